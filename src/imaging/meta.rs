//! The only two things read from the uploaded metadata: the EXIF orientation
//! (applied to the pixels, then dropped) and DateTimeOriginal (kept as case
//! data). Everything else (GPS, make/model/serial, maker notes...) is never
//! even looked at, and none of it reaches an output.

use std::io::Cursor;

use exif::{In, Tag, Value};
use time::{Date, Month, PrimitiveDateTime, Time};

use super::orient::Orientation;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Meta {
    pub orientation: Orientation,
    pub captured_at: Option<PrimitiveDateTime>,
}

/// Reads EXIF from a JPEG (APP1), PNG (eXIf) or WebP (EXIF chunk, `webp_exif`: its
/// payload, found by the probe's walk of the RIFF chunks). Missing or malformed EXIF is not
/// an error: the photo is simply treated as upright with no capture time.
pub(super) fn read(input: &[u8], webp_exif: Option<&[u8]>) -> Meta {
    let exif = match exif::Reader::new().read_from_container(&mut Cursor::new(input)) {
        Ok(exif) => exif,
        Err(_) => match webp_exif.and_then(exif_with_prefix) {
            Some(exif) => exif,
            None => return Meta::default(),
        },
    };
    let orientation = exif
        .get_field(Tag::Orientation, In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
        .map(Orientation::from_exif)
        .unwrap_or_default();
    let captured_at = exif
        .get_field(Tag::DateTimeOriginal, In::PRIMARY)
        .and_then(|f| match &f.value {
            Value::Ascii(v) => v.first().and_then(|s| exif::DateTime::from_ascii(s).ok()),
            _ => None,
        })
        .and_then(|mut dt| {
            if let Some(sub) = exif.get_field(Tag::SubSecTimeOriginal, In::PRIMARY) {
                if let Value::Ascii(v) = &sub.value {
                    if let Some(s) = v.first() {
                        let _ = dt.parse_subsec(s);
                    }
                }
            }
            to_primitive(&dt)
        });
    Meta {
        orientation,
        captured_at,
    }
}

/// Some WebP writers (libvips among them) store the EXIF chunk with the JPEG
/// APP1 "Exif\0\0" prefix, which `kamadak-exif` rejects; browsers accept it.
fn exif_with_prefix(payload: &[u8]) -> Option<exif::Exif> {
    let tiff = payload.strip_prefix(b"Exif\0\0")?;
    exif::Reader::new().read_raw(tiff.to_vec()).ok()
}

fn to_primitive(dt: &exif::DateTime) -> Option<PrimitiveDateTime> {
    let date =
        Date::from_calendar_date(i32::from(dt.year), Month::try_from(dt.month).ok()?, dt.day)
            .ok()?;
    let time =
        Time::from_hms_nano(dt.hour, dt.minute, dt.second, dt.nanosecond.unwrap_or(0)).ok()?;
    Some(PrimitiveDateTime::new(date, time))
}
