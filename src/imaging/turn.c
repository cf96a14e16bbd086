/*
 * Lossless turns of a baseline JPEG in bands, on libjpeg-turbo's own libjpeg API (the copy the
 * `turbojpeg` crate builds and links).
 *
 * Why C: libjpeg reports errors by calling `error_exit`, which must not return; the only safe
 * way to get back is setjmp/longjmp, which Rust cannot do. And the TurboJPEG API (tj3Transform)
 * holds the whole turned image's coefficients at once and writes it on one thread; here the
 * coefficients are read once, then each band of the upright picture is turned block by block
 * and Huffman-coded by itself, so that two threads share the work and only a band's
 * coefficients are held beside the source's. The Rust side (turn.rs) joins the bands with
 * restart markers.
 *
 * The display path makes its scaled pixels from the same coefficients while they are read
 * (aghub_coefs_replay: libjpeg's decoder with its Huffman decoding replaced by a copy of each
 * MCU once its row is read), so the Huffman codes, the costliest step of a render, are decoded
 * once for both paths, and the two threads work side by side.
 *
 * A band reads the source's coefficients only through the row pointers collected after
 * reading, never through libjpeg, so bands can run on several threads at once.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jpeglib.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define MESSAGE_LEN 200
/* Blocks a side of a tile of a turn. */
#define TILE_BLOCKS 8

struct error_mgr {
  struct jpeg_error_mgr pub;
  jmp_buf jump;
  char message[MESSAGE_LEN];
};

static void error_exit(j_common_ptr cinfo) {
  struct error_mgr *err = (struct error_mgr *)cinfo->err;
  (*cinfo->err->format_message)(cinfo, err->message);
  longjmp(err->jump, 1);
}

/* A warning (corrupt data libjpeg could skip) fails the turn: the caller re-encodes instead,
 * as it does for a warning from tj3Transform. */
static void emit_message(j_common_ptr cinfo, int level) {
  struct error_mgr *err = (struct error_mgr *)cinfo->err;
  if (level < 0) {
    (*cinfo->err->format_message)(cinfo, err->message);
    longjmp(err->jump, 1);
  }
}

static void init_errors(struct error_mgr *err) {
  jpeg_std_error(&err->pub);
  err->pub.error_exit = error_exit;
  err->pub.emit_message = emit_message;
  err->message[0] = '\0';
}

/* Told of each run of memory the reader is about to write (then NULL, 0), before it writes
 * any of it. */
typedef void (*aghub_region_fn)(void *ctx, void *start, unsigned long len);
/* Told how many iMCU rows are read. */
typedef void (*aghub_rows_fn)(void *ctx, unsigned int rows);
/* Returns once `rows` iMCU rows are read: how many are, or fewer if they never will be. */
typedef long (*aghub_wait_fn)(void *ctx, unsigned int rows);

struct aghub_coefs {
  struct jpeg_decompress_struct src; /* first: the progress monitor is handed &src */
  struct error_mgr err;
  struct jpeg_progress_mgr progress;
  aghub_region_fn region;
  aghub_rows_fn rows_read;
  void *ctx;
  /* The Huffman decoder's own decode_mcu, while first_mcu stands in for it. */
  boolean (*decode_mcu)(j_decompress_ptr cinfo, JBLOCKROW *MCU_data);
  /* Each component's array as first_mcu found it (NULL: not given). */
  JBLOCK *bases[MAX_COMPONENTS];
  /* Per component: one pointer per block row (height_in_blocks rounded up to v_samp). */
  JBLOCKROW *rows[MAX_COMPONENTS];
  JDIMENSION width_in_blocks[MAX_COMPONENTS];
  JDIMENSION height_in_blocks[MAX_COMPONENTS];
};

static JDIMENSION div_round_up(JDIMENSION a, JDIMENSION b) { return (a + b - 1) / b; }

static void copy_message(char *out, const char *message) {
  strncpy(out, message, MESSAGE_LEN - 1);
  out[MESSAGE_LEN - 1] = '\0';
}

void aghub_coefs_free(struct aghub_coefs *c) {
  if (c == NULL) return;
  for (int ci = 0; ci < MAX_COMPONENTS; ci++) free(c->rows[ci]);
  jpeg_destroy_decompress(&c->src);
  free(c);
}

/* libjpeg's entropy decoder, as far as its first two members (jpegint.h, which libjpeg-turbo
 * does not install; they are the same since libjpeg 6b). */
struct entropy_decoder {
  void (*start_pass)(j_decompress_ptr cinfo);
  boolean (*decode_mcu)(j_decompress_ptr cinfo, JBLOCKROW *MCU_data);
};

/* jmemmgr.c allocates a coefficient array in one piece below this size (MAX_ALLOC_CHUNK), so
 * its block rows follow each other at a fixed stride. */
#define ONE_PIECE 1000000000UL

/* Blocks a coefficient array row holds: the component's width padded to whole MCUs
 * (jdcoefct.c). */
static JDIMENSION array_width(const jpeg_component_info *comp) {
  return div_round_up(comp->width_in_blocks, comp->h_samp_factor) * comp->h_samp_factor;
}

static JDIMENSION array_height(const jpeg_component_info *comp) {
  return div_round_up(comp->height_in_blocks, comp->v_samp_factor) * comp->v_samp_factor;
}

/* The scan's first MCU, once: its blocks are the first of each component's coefficient array,
 * allocated whole and not yet written past its first row. Their memory goes to `region`, one
 * run a component, in component order (then NULL, 0), before the Huffman decoder goes on. */
static boolean first_mcu(j_decompress_ptr cinfo, JBLOCKROW *MCU_data) {
  struct aghub_coefs *c = (struct aghub_coefs *)cinfo;
  ((struct entropy_decoder *)cinfo->entropy)->decode_mcu = c->decode_mcu;
  int blkn = 0;
  for (int ci = 0; ci < cinfo->comps_in_scan; ci++) {
    jpeg_component_info *comp = cinfo->cur_comp_info[ci];
    unsigned long len =
        (unsigned long)sizeof(JBLOCK) * array_width(comp) * array_height(comp);
    /* A scan of some components only (a multi-scan JPEG) or a piece too large: no runs. */
    if (cinfo->comps_in_scan != cinfo->num_components || comp->component_index != ci ||
        len >= ONE_PIECE)
      break;
    c->region(c->ctx, MCU_data[blkn], len);
    c->bases[ci] = MCU_data[blkn];
    blkn += comp->MCU_blocks;
  }
  c->region(c->ctx, NULL, 0);
  return c->decode_mcu(cinfo, MCU_data);
}

/* Called before each row the scan decodes: the first time, the entropy decoder is ready; then
 * `rows` is told how many iMCU rows are read. */
static void on_progress(j_common_ptr cinfo) {
  struct aghub_coefs *c = (struct aghub_coefs *)cinfo;
  struct entropy_decoder *entropy = (struct entropy_decoder *)c->src.entropy;
  if (c->decode_mcu == NULL && entropy != NULL) {
    c->decode_mcu = entropy->decode_mcu;
    entropy->decode_mcu = first_mcu;
  }
  c->rows_read(c->ctx, c->src.input_iMCU_row);
}

/* Reads into `c` (zeroed); 0, or -1 with `message` set. */
static int read_coefficients(struct aghub_coefs *c, const unsigned char *data, unsigned long len,
                             char *message) {
  c->src.err = &c->err.pub;
  init_errors(&c->err);
  if (setjmp(c->err.jump)) {
    copy_message(message, c->err.message);
    return -1;
  }
  jpeg_create_decompress(&c->src);
  jpeg_mem_src(&c->src, data, len);
  jpeg_read_header(&c->src, TRUE);
  if (c->src.progressive_mode || c->src.arith_code || c->src.num_components > MAX_COMPONENTS) {
    copy_message(message, "not a baseline Huffman-coded JPEG");
    return -1;
  }
  c->progress.progress_monitor = on_progress;
  c->src.progress = &c->progress;
  jvirt_barray_ptr *arrays = jpeg_read_coefficients(&c->src);
  for (int ci = 0; ci < c->src.num_components; ci++) {
    jpeg_component_info *comp = c->src.comp_info + ci;
    /* With the padding rows of the last MCU row, which a replay reads too. */
    JDIMENSION rows = array_height(comp);
    c->width_in_blocks[ci] = comp->width_in_blocks;
    c->height_in_blocks[ci] = comp->height_in_blocks;
    c->rows[ci] = malloc(sizeof(JBLOCKROW) * (rows ? rows : 1));
    if (c->rows[ci] == NULL) {
      copy_message(message, "out of memory");
      return -1;
    }
    /* The whole array is in memory (no max_memory_to_use), so these pointers stay valid. */
    for (JDIMENSION r = 0; r < rows; r++) {
      c->rows[ci][r] = *(*c->src.mem->access_virt_barray)((j_common_ptr)&c->src, arrays[ci], r,
                                                           1, FALSE);
      /* What a replay took the rows to be, checked before its pixels are used. */
      if (c->bases[ci] != NULL && c->rows[ci][r] != c->bases[ci] + (size_t)r * array_width(comp)) {
        copy_message(message, "a coefficient array is not in one piece");
        return -1;
      }
    }
  }
  return 0;
}

/* Reads the DCT coefficients of a baseline Huffman-coded JPEG. Before any is written, `region`
 * is told of their memory (one run a component: where aghub_coefs_replay finds them), and
 * before each row of the scan, `rows_read` how many iMCU rows are read. Returns the reader
 * (for aghub_coefs_free) with `*ok` 1; or 0, with `message` set, on any error or warning and
 * for what this path does not take (progressive or arithmetic coding: the caller falls back to
 * tj3Transform), its memory still allocated until it is freed, since another thread may still
 * be copying rows it was told are read. NULL only when out of memory. */
struct aghub_coefs *aghub_coefs_read(const unsigned char *data, unsigned long len,
                                     aghub_region_fn region, aghub_rows_fn rows_read, void *ctx,
                                     int *ok, char *message) {
  struct aghub_coefs *c = calloc(1, sizeof(*c));
  *ok = 0;
  if (c == NULL) {
    copy_message(message, "out of memory");
    return NULL;
  }
  c->region = region;
  c->rows_read = rows_read;
  c->ctx = ctx;
  *ok = read_coefficients(c, data, len, message) == 0;
  return c;
}

struct replay {
  struct jpeg_decompress_struct dinfo; /* first: decode_mcu is handed &dinfo */
  struct error_mgr err;
  JBLOCK *bases[MAX_COMPONENTS];
  JDIMENSION widths[MAX_COMPONENTS];
  aghub_wait_fn wait;
  void *ctx;
  JDIMENSION mcu;
  /* iMCU rows known to be read. */
  JDIMENSION ready;
};

/* In place of the Huffman decoder: the next MCU's blocks, copied from the coefficients the
 * other thread has read, once it has read their row. MCUs come in raster order, and the arrays
 * hold the edge MCUs' padding blocks too. */
static boolean replay_mcu(j_decompress_ptr cinfo, JBLOCKROW *MCU_data) {
  struct replay *r = (struct replay *)cinfo;
  JDIMENSION mcu_row = r->mcu / cinfo->MCUs_per_row, mcu_col = r->mcu % cinfo->MCUs_per_row;
  if (mcu_col == 0) {
    /* An interleaved scan's MCU row is an iMCU row; a one-component scan's iMCU row is as many
     * MCU (block) rows as the component's vertical sampling factor. */
    JDIMENSION needed = cinfo->comps_in_scan > 1
                            ? mcu_row + 1
                            : mcu_row / cinfo->cur_comp_info[0]->v_samp_factor + 1;
    if (needed > r->ready) {
      long ready = r->wait(r->ctx, needed);
      if (ready < (long)needed) {
        copy_message(r->err.message, "the coefficients were not read");
        longjmp(r->err.jump, 1);
      }
      r->ready = (JDIMENSION)ready;
    }
  }
  int blkn = 0;
  for (int ci = 0; ci < cinfo->comps_in_scan; ci++) {
    jpeg_component_info *comp = cinfo->cur_comp_info[ci];
    int index = comp->component_index;
    for (int y = 0; y < comp->MCU_height; y++) {
      const JBLOCK *row =
          r->bases[index] + (size_t)(mcu_row * comp->MCU_height + y) * r->widths[index];
      memcpy(MCU_data[blkn], row + mcu_col * comp->MCU_width,
             sizeof(JBLOCK) * comp->MCU_width);
      blkn += comp->MCU_width;
    }
  }
  r->mcu++;
  return TRUE;
}

static int replay(struct replay *r, const unsigned char *data, unsigned long len,
                  void *const *bases, int nbases, unsigned int scale_num,
                  unsigned int scale_denom, int grey, unsigned char *pixels, unsigned int width,
                  unsigned int height, char *message) {
  JSAMPROW *volatile rows = NULL;
  r->dinfo.err = &r->err.pub;
  init_errors(&r->err);
  if (setjmp(r->err.jump)) {
    copy_message(message, r->err.message);
    free(rows);
    return -1;
  }
  jpeg_create_decompress(&r->dinfo);
  jpeg_mem_src(&r->dinfo, data, len);
  jpeg_read_header(&r->dinfo, TRUE);
  if (r->dinfo.progressive_mode || r->dinfo.arith_code || jpeg_has_multiple_scans(&r->dinfo) ||
      r->dinfo.num_components != nbases) {
    copy_message(message, "not the one-scan JPEG whose coefficients are read");
    return -1;
  }
  for (int ci = 0; ci < nbases; ci++) {
    r->bases[ci] = (JBLOCK *)bases[ci];
    r->widths[ci] = array_width(r->dinfo.comp_info + ci);
  }
  /* TurboJPEG's own settings (tj3Decompress), for the same pixels as its decode. */
  r->dinfo.out_color_space = grey ? JCS_GRAYSCALE : JCS_EXT_RGB;
  r->dinfo.dct_method = JDCT_ISLOW;
  r->dinfo.do_fancy_upsampling = TRUE;
  r->dinfo.scale_num = scale_num;
  r->dinfo.scale_denom = scale_denom;
  jpeg_start_decompress(&r->dinfo);
  if (r->dinfo.output_width != width || r->dinfo.output_height != height ||
      r->dinfo.output_components != (grey ? 1 : 3)) {
    copy_message(message, "the scaled size is not the one asked for");
    return -1;
  }
  ((struct entropy_decoder *)r->dinfo.entropy)->decode_mcu = replay_mcu;
  rows = malloc(sizeof(JSAMPROW) * height);
  if (rows == NULL) {
    copy_message(message, "out of memory");
    return -1;
  }
  size_t pitch = (size_t)width * (grey ? 1 : 3);
  for (unsigned int y = 0; y < height; y++) rows[y] = pixels + y * pitch;
  while (r->dinfo.output_scanline < height)
    jpeg_read_scanlines(&r->dinfo, rows + r->dinfo.output_scanline,
                        height - r->dinfo.output_scanline);
  free(rows);
  rows = NULL;
  /* Not jpeg_finish_decompress: the entropy-coded data was never read here, and would be taken
   * for stray bytes before EOI. */
  return 0;
}

/*
 * The picture whose coefficients another thread is reading (aghub_coefs_read) into the arrays
 * at `bases` (the runs it gave, one a component), made from them at `scale_num`/`scale_denom`
 * (RGB, or grey): `height` rows of `width` pixels into `pixels`, the same as libjpeg-turbo's
 * decode of `data` without decoding its Huffman codes again. Each row waits for
 * `wait(ctx, rows)`, which returns once that many iMCU rows are read (how many are), or less if
 * they never will be. 0, or -1 with `message` set.
 */
int aghub_coefs_replay(const unsigned char *data, unsigned long len, void *const *bases,
                       int nbases, aghub_wait_fn wait, void *ctx, unsigned int scale_num,
                       unsigned int scale_denom, int grey, unsigned char *pixels,
                       unsigned int width, unsigned int height, char *message) {
  struct replay *r = calloc(1, sizeof(*r));
  if (r == NULL) {
    copy_message(message, "out of memory");
    return -1;
  }
  r->wait = wait;
  r->ctx = ctx;
  int status = replay(r, data, len, bases, nbases, scale_num, scale_denom, grey, pixels, width,
                      height, message);
  jpeg_destroy_decompress(&r->dinfo);
  free(r);
  return status;
}

/* One block of coefficients, transposed or not, with `negate`'s coefficients negated
 * (`negate` is -1 or 0 each: (v ^ -1) - -1 == -v). */
static void copy_block(const JCOEF *from, JCOEF *to, const JCOEF *negate, int transpose) {
#ifdef __SSE2__
  /* A transpose of 8×8 16-bit values in registers: the scalar loop, which the compiler does not
   * vectorise, took a quarter of a turned photo's CPU (`perf`). */
  __m128i row[DCTSIZE], t[DCTSIZE];
  for (int i = 0; i < DCTSIZE; i++) row[i] = _mm_loadu_si128((const __m128i *)(from + i * DCTSIZE));
  if (transpose) {
    __m128i a[DCTSIZE], b[DCTSIZE];
    for (int i = 0; i < DCTSIZE; i += 2) {
      a[i] = _mm_unpacklo_epi16(row[i], row[i + 1]);
      a[i + 1] = _mm_unpackhi_epi16(row[i], row[i + 1]);
    }
    for (int i = 0; i < DCTSIZE; i += 4) {
      b[i] = _mm_unpacklo_epi32(a[i], a[i + 2]);
      b[i + 1] = _mm_unpackhi_epi32(a[i], a[i + 2]);
      b[i + 2] = _mm_unpacklo_epi32(a[i + 1], a[i + 3]);
      b[i + 3] = _mm_unpackhi_epi32(a[i + 1], a[i + 3]);
    }
    for (int i = 0; i < 4; i++) {
      t[2 * i] = _mm_unpacklo_epi64(b[i], b[i + 4]);
      t[2 * i + 1] = _mm_unpackhi_epi64(b[i], b[i + 4]);
    }
  } else {
    for (int i = 0; i < DCTSIZE; i++) t[i] = row[i];
  }
  for (int i = 0; i < DCTSIZE; i++) {
    __m128i m = _mm_loadu_si128((const __m128i *)(negate + i * DCTSIZE));
    _mm_storeu_si128((__m128i *)(to + i * DCTSIZE), _mm_sub_epi16(_mm_xor_si128(t[i], m), m));
  }
#else
  for (int i = 0; i < DCTSIZE; i++)
    for (int j = 0; j < DCTSIZE; j++) {
      int k = i * DCTSIZE + j;
      JCOEF v = transpose ? from[j * DCTSIZE + i] : from[k];
      to[k] = (JCOEF)((v ^ negate[k]) - negate[k]);
    }
#endif
}

/*
 * Encodes rows [row0, row0 + nrows) of the upright picture as a JPEG of its own. `transpose`,
 * `flip_rows`, `flip_cols` describe the EXIF orientation: the stored picture transposed (or
 * not), then mirrored top-bottom and/or left-right (Rotate90 = transpose + flip_cols). `row0` is
 * a multiple of the upright picture's MCU height. On success returns 0 and a malloc'ed JPEG in
 * *out (free with aghub_free); else -1 and `message`.
 */
int aghub_coefs_band(const struct aghub_coefs *c, int transpose, int flip_rows, int flip_cols,
                     unsigned int row0, unsigned int nrows, unsigned char **out,
                     unsigned long *out_len, char *message) {
  struct jpeg_compress_struct dst;
  struct error_mgr err;
  jvirt_barray_ptr arrays[MAX_COMPONENTS];
  const struct jpeg_decompress_struct *src = &c->src;
  volatile int created = 0;
  *out = NULL;
  *out_len = 0;
  dst.err = &err.pub;
  init_errors(&err);
  if (setjmp(err.jump)) {
    copy_message(message, err.message);
    if (created) jpeg_destroy_compress(&dst);
    free(*out);
    *out = NULL;
    return -1;
  }
  jpeg_create_compress(&dst);
  created = 1;
  /* The source is only read: jpeg_copy_critical_parameters takes a non-const pointer. */
  jpeg_copy_critical_parameters((j_decompress_ptr)src, &dst);
  dst.image_width = transpose ? src->image_height : src->image_width;
  dst.image_height = nrows;
  int max_h = 1, max_v = 1;
  for (int ci = 0; ci < dst.num_components; ci++) {
    jpeg_component_info *comp = dst.comp_info + ci;
    if (transpose) {
      int h = comp->h_samp_factor;
      comp->h_samp_factor = comp->v_samp_factor;
      comp->v_samp_factor = h;
    }
    if (comp->h_samp_factor > max_h) max_h = comp->h_samp_factor;
    if (comp->v_samp_factor > max_v) max_v = comp->v_samp_factor;
  }
  if (transpose) {
    /* A transposed block needs its quantisation table transposed with it. */
    for (int t = 0; t < NUM_QUANT_TBLS; t++) {
      JQUANT_TBL *q = dst.quant_tbl_ptrs[t];
      if (q == NULL) continue;
      for (int i = 0; i < DCTSIZE; i++)
        for (int j = i + 1; j < DCTSIZE; j++) {
          UINT16 v = q->quantval[i * DCTSIZE + j];
          q->quantval[i * DCTSIZE + j] = q->quantval[j * DCTSIZE + i];
          q->quantval[j * DCTSIZE + i] = v;
        }
    }
  }
  JDIMENSION widths[MAX_COMPONENTS], heights[MAX_COMPONENTS], padded[MAX_COMPONENTS],
      offsets[MAX_COMPONENTS];
  for (int ci = 0; ci < dst.num_components; ci++) {
    jpeg_component_info *comp = dst.comp_info + ci;
    /* libjpeg's own sizes (jcmaster.c initial_setup), arrays padded to whole MCUs. */
    widths[ci] = div_round_up(dst.image_width * comp->h_samp_factor, max_h * DCTSIZE);
    heights[ci] = div_round_up(nrows * comp->v_samp_factor, max_v * DCTSIZE);
    padded[ci] = div_round_up(heights[ci], comp->v_samp_factor) * comp->v_samp_factor;
    /* Exact: row0 is a whole number of the upright picture's MCU rows (a grey JPEG's MCU is
     * one block, whatever sampling factors its one component declares). */
    offsets[ci] = row0 * comp->v_samp_factor / (max_v * DCTSIZE);
    arrays[ci] = (*dst.mem->request_virt_barray)(
        (j_common_ptr)&dst, JPOOL_IMAGE, FALSE,
        div_round_up(widths[ci], comp->h_samp_factor) * comp->h_samp_factor, padded[ci],
        padded[ci]);
  }
  jpeg_mem_dest(&dst, out, out_len);
  jpeg_write_coefficients(&dst, arrays);

  /* Mirroring negates the odd frequencies along the mirrored axis. */
  JCOEF negate[DCTSIZE2];
  for (int i = 0; i < DCTSIZE; i++)
    for (int j = 0; j < DCTSIZE; j++)
      negate[i * DCTSIZE + j] = ((flip_rows && (i & 1)) != (flip_cols && (j & 1))) ? -1 : 0;

  for (int ci = 0; ci < dst.num_components; ci++) {
    /* The picture before the flips, in blocks: the stored one, or its transpose. */
    JDIMENSION base_rows = transpose ? c->width_in_blocks[ci] : c->height_in_blocks[ci];
    JDIMENSION base_cols = transpose ? c->height_in_blocks[ci] : c->width_in_blocks[ci];
    /* The whole band at once (every row is then defined for the encoder, which reads only
     * the picture's blocks of the last MCU row). */
    JBLOCKARRAY dst_rows = (*dst.mem->access_virt_barray)((j_common_ptr)&dst, arrays[ci], 0,
                                                          padded[ci], TRUE);
    /* By tiles of blocks: a turn reads down the source's block columns, and a tile keeps
     * those reads to a few rows at a time (as for pixels, in orient.rs). A mirrored axis is
     * walked backwards, so that the source is still read forwards: twice as fast (measured). */
    for (JDIMENSION r0 = 0; r0 < heights[ci]; r0 += TILE_BLOCKS)
      for (JDIMENSION c0 = 0; c0 < widths[ci]; c0 += TILE_BLOCKS)
        for (JDIMENSION rw = r0; rw < r0 + TILE_BLOCKS && rw < heights[ci]; rw++) {
          JDIMENSION r = flip_rows ? heights[ci] - 1 - rw : rw;
          JDIMENSION br = offsets[ci] + r;
          if (flip_rows) br = base_rows - 1 - br;
          /* Past this tile's columns, the next tile's blocks in this row are only prefetched. */
          for (JDIMENSION cw = c0; cw < c0 + 2 * TILE_BLOCKS && cw < widths[ci]; cw++) {
            JDIMENSION col = flip_cols ? widths[ci] - 1 - cw : cw;
            JDIMENSION bc = flip_cols ? base_cols - 1 - col : col;
            JDIMENSION src_row = transpose ? bc : br, src_col = transpose ? br : bc;
            /* Never expected for a perfect turn (the caller checks): refuse rather than read
             * out of bounds. */
            if (src_row >= c->height_in_blocks[ci] || src_col >= c->width_in_blocks[ci]) {
              copy_message(err.message, "a band block maps outside the source");
              longjmp(err.jump, 1);
            }
            const JCOEF *from = c->rows[ci][src_row][src_col];
            if (cw >= c0 + TILE_BLOCKS) {
#ifdef __GNUC__
              /* The next tile's block in this place, asked for ahead of time: a turn's reads
               * jump from source row to source row, which the hardware prefetcher does not
               * follow (loads stalled for 70 % of this function's time, `perf annotate`). */
              __builtin_prefetch(from);
              __builtin_prefetch(from + DCTSIZE2 / 2);
#endif
              continue;
            }
            copy_block(from, dst_rows[r][col], negate, transpose);
          }
        }
  }
  jpeg_finish_compress(&dst);
  jpeg_destroy_compress(&dst);
  return 0;
}

void aghub_free(void *p) { free(p); }
