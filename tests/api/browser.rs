//! The whole journey in a real headless Chromium (Debian's chromium + chromium-driver):
//! a GP on a phone-sized screen submits a dermatology case with a site view and a close-up, a
//! consultant at a desktop claims it, sees the photos beside the reply form, zooms, pans and
//! moves between them in the photo viewer, asks for more information, the GP answers,
//! the consultant closes it and the GP reads the advice. Screenshots of every step are saved
//! under target/test-artifacts/browser/ for people to look at.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aghub::clock::Clock;
use aghub::domain::Role;
use fantoccini::actions::{
    InputSource, MouseActions, PointerAction, WheelAction, WheelActions, MOUSE_BUTTON_LEFT,
};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};

use crate::helpers::{free_port, phone_jpeg, Backends, Stack, TestApp, PASSWORD};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

pub(crate) struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) async fn start_driver() -> (Driver, u16) {
    assert!(
        Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
        "Chromium and ChromeDriver are missing: scripts/test installs Debian's chromium and chromium-driver"
    );
    let port = free_port();
    let mut driver = Driver(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (driver, port);
        }
        if let Ok(Some(status)) = driver.0.try_wait() {
            panic!("chromedriver exited at start: {status}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start on port {port}");
}

async fn browser(port: u16, width: u32, height: u32, profile: &Path) -> Client {
    browser_with(port, width, height, profile, &[]).await
}

/// [`browser`] with more Chromium switches (fake microphones for calls).
pub(crate) async fn browser_with(
    port: u16,
    width: u32,
    height: u32,
    profile: &Path,
    extra: &[&str],
) -> Client {
    let mut args = vec![
        "--headless=new".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-dev-shm-usage".into(),
        format!("--user-data-dir={}", profile.display()),
        format!("--window-size={width},{height}"),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let mut options = serde_json::json!({ "binary": CHROMIUM, "args": args });
    // Headless windows have a minimum width; device emulation gives a true phone viewport.
    if width < 600 {
        options["mobileEmulation"] = serde_json::json!({
            "deviceMetrics": { "width": width, "height": height, "pixelRatio": 2.0, "touch": true }
        });
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    ClientBuilder::rustls()
        .expect("tls")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("connect to chromedriver")
}

pub(crate) struct Shots {
    pub(crate) dir: PathBuf,
    pub(crate) n: usize,
}

impl Shots {
    /// Saves a screenshot of the page, and checks it with axe-core first: every page the
    /// journey shows must have no WCAG 2.2 AA violation (at the browser's size: phone or desktop).
    pub(crate) async fn take(&mut self, c: &Client, name: &str) {
        self.n += 1;
        let violations = axe_violations(c).await;
        assert!(
            violations.as_array().is_some_and(Vec::is_empty),
            "{name}: WCAG 2.2 AA violations found by axe-core: {violations:#}"
        );
        let png = c.screenshot().await.expect("screenshot");
        std::fs::write(self.dir.join(format!("{:02}-{name}.png", self.n)), png).unwrap();
    }
}

/// axe-core (from npm, installed by scripts/deps.sh `ensure_axe`) injected into the page and run
/// against the WCAG 2.0, 2.1 and 2.2 A and AA rules: the violations, each with its rule, impact
/// and the elements it found.
pub(crate) async fn axe_violations(c: &Client) -> serde_json::Value {
    let path = std::env::var("AXE_CORE_JS")
        .expect("AXE_CORE_JS is not set: run the suite with scripts/test, which installs axe-core");
    let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    c.execute(&source, vec![]).await.expect("inject axe-core");
    let found = c
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             axe.run(document, { runOnly: { type: 'tag', values: \
               ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } })\
             .then(r => done(r.violations.map(v => ({ rule: v.id, impact: v.impact, help: v.help, \
               nodes: v.nodes.map(n => n.target.join(' ')) }))))\
             .catch(e => done({ error: String(e) }));",
            vec![],
        )
        .await
        .expect("run axe-core");
    assert!(found.get("error").is_none(), "axe-core failed: {found}");
    found
}

pub(crate) async fn sign_in(c: &Client, base: &str, email: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    type_into(c, "#email", email).await;
    type_into(c, "#password", PASSWORD).await;
    c.find(Locator::Css("form[action='/login'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    if let Err(e) = c
        .wait()
        .for_element(Locator::Css("form[action='/logout']"))
        .await
    {
        let url = c
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default();
        let body = c.source().await.unwrap_or_default();
        panic!("{email} was not signed in ({e}); at {url}: {body}");
    }
}

async fn sign_out(c: &Client) {
    c.find(Locator::Css("form[action='/logout'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait().for_element(Locator::Css("#email")).await.unwrap();
}

pub(crate) async fn text(c: &Client) -> String {
    c.find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

pub(crate) async fn type_into(c: &Client, css: &str, text: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .send_keys(text)
        .await
        .unwrap();
}

/// The pixel width of the image the photo viewer shows (which stored size it loaded).
async fn shown_width(c: &Client) -> f64 {
    c.execute(
        "return document.querySelector('.photo-frame img').naturalWidth",
        vec![],
    )
    .await
    .unwrap()
    .as_f64()
    .unwrap()
}

pub(crate) async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Waits until the JavaScript expression is true (a page's script ran, an image loaded).
pub(crate) async fn wait_until(c: &Client, expr: &str) {
    wait_until_within(c, expr, 10).await
}

/// [`wait_until`], for up to `seconds`.
pub(crate) async fn wait_until_within(c: &Client, expr: &str, seconds: u32) {
    for _ in 0..seconds * 10 {
        let done = c.execute(&format!("return !!({expr});"), vec![]).await;
        if done.is_ok_and(|v| v == true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let at = c
        .execute(
            "return location.href + ', focus on ' + document.activeElement.outerHTML.slice(0, 200)",
            vec![],
        )
        .await;
    panic!("still not true after {seconds} s: {expr} (at {at:?})");
}

async fn mouse(c: &Client, moves: impl FnOnce(MouseActions) -> MouseActions) {
    c.perform_actions(moves(MouseActions::new("mouse".into())))
        .await
        .unwrap();
}

/// The photo viewer as the consultant sees it; boxes are [left, top, width, height] in the window.
#[derive(Debug, serde::Deserialize)]
struct Viewer {
    zoom: f64,
    /// Which copy is shown: "display" or "full".
    source: String,
    /// Inside the frame's border.
    frame: [f64; 4],
    img: [f64; 4],
    /// The frame ends above the bottom of the window, and the page is no wider than it.
    in_window: bool,
    /// The frame has scrollbars.
    scrolls: bool,
    focused: bool,
}

async fn viewer(c: &Client) -> Viewer {
    let state = c
        .execute(
            "const v = document.querySelector('.photo-viewer'), f = v.querySelector('.photo-frame');\
             const fr = f.getBoundingClientRect(), ir = f.querySelector('img').getBoundingClientRect();\
             return { zoom: Number(v.dataset.zoom), source: v.dataset.source,\
               frame: [fr.left + f.clientLeft, fr.top + f.clientTop, f.clientWidth, f.clientHeight],\
               img: [ir.left, ir.top, ir.width, ir.height],\
               in_window: fr.bottom <= window.innerHeight\
                 && document.documentElement.scrollWidth <= window.innerWidth,\
               scrolls: f.scrollWidth > f.clientWidth || f.scrollHeight > f.clientHeight,\
               focused: document.activeElement === f };",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(state).unwrap()
}

impl Viewer {
    /// The whole photo is in view: inside the frame, touching two of its sides, no scrolling.
    fn assert_fitted(&self, when: &str) {
        let ([fx, fy, fw, fh], [ix, iy, iw, ih]) = (self.frame, self.img);
        assert!(
            self.zoom == 1.0
                && ix >= fx - 0.5
                && iy >= fy - 0.5
                && ix + iw <= fx + fw + 0.5
                && iy + ih <= fy + fh + 0.5
                && ((iw - fw).abs() < 1.0 || (ih - fh).abs() < 1.0)
                && self.in_window
                && !self.scrolls,
            "{when}: the photo is not fitted to the window: {self:?}"
        );
    }

    /// The point of the photo that was under `at` (in `before`) is still there, within 2 pixels.
    fn assert_kept(&self, before: &Viewer, at: (f64, f64)) {
        let [bx, by, bw, bh] = before.img;
        let (u, v) = ((at.0 - bx) / bw, (at.1 - by) / bh);
        let [x, y, w, h] = self.img;
        let now = (x + u * w, y + v * h);
        assert!(
            (now.0 - at.0).abs() < 2.0 && (now.1 - at.1).abs() < 2.0,
            "the point under the pointer moved from {at:?} to {now:?}: {before:?} -> {self:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_journey_in_a_real_browser() {
    let backends = Backends::new(Stack::SqliteFs).await;
    let app = TestApp::start(&backends).await;
    // Browsers treat http://localhost as secure, so the cookie keeps its real Secure flag.
    let base = app.base.replace("127.0.0.1", "localhost");
    let practice = app.add_practice("A81001").await;
    app.add_user("c@icb.example", Role::Commissioner, None, &[])
        .await;
    app.add_user("admin@aghub.example", Role::Admin, None, &[])
        .await;
    app.add_user("gp@a.example", Role::Gp, Some(&practice.id), &[])
        .await;
    let derm = app
        .add_user("derm@h.example", Role::Consultant, None, &["dermatology"])
        .await;
    app.on_local_rota_today(&derm, "dermatology").await;

    let work = tempfile::tempdir().unwrap();
    let photo = work.path().join("IMG_0042.JPG");
    std::fs::write(&photo, phone_jpeg(1600, 1200, 6, 42)).unwrap();
    let close_up = work.path().join("IMG_0043.JPG");
    std::fs::write(&close_up, phone_jpeg(1800, 2400, 1, 43)).unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../test-artifacts/browser");
    // Only this run's screenshots, so none is mistaken for what the pages look like now.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut shots = Shots { dir, n: 0 };
    let (_driver, port) = start_driver().await;

    // The GP, on a phone.
    let gp = browser(port, 390, 844, &work.path().join("gp-profile")).await;
    sign_in(&gp, &base, "gp@a.example").await;
    shots.take(&gp, "gp-cases").await;
    gp.goto(&format!("{base}/cases/new")).await.unwrap();
    let width: f64 = gp
        .execute("return document.documentElement.scrollWidth", vec![])
        .await
        .unwrap()
        .as_f64()
        .unwrap();
    assert!(
        width <= 390.0,
        "no sideways scrolling on a phone ({width}px)"
    );
    // A specialty nobody covers now says so before the GP sends anything.
    gp.find(Locator::Css("#specialty"))
        .await
        .unwrap()
        .select_by_value("gastroenterology")
        .await
        .unwrap();
    let notice = gp
        .wait()
        .for_element(Locator::Css("#duty-notice .warning-callout"))
        .await
        .expect("a notice for a specialty with nobody on duty")
        .text()
        .await
        .unwrap();
    assert!(
        notice.contains("No Gastroenterology consultant is on duty now."),
        "{notice}"
    );
    shots.take(&gp, "gp-nobody-on-duty").await;
    gp.find(Locator::Css("#specialty"))
        .await
        .unwrap()
        .select_by_value("dermatology")
        .await
        .unwrap();
    assert!(
        gp.find(Locator::Css("#duty-notice .warning-callout"))
            .await
            .is_err(),
        "dermatology has a consultant on duty"
    );
    click(&gp, "input[name=sex][value=female]").await;
    type_into(&gp, "#nhs_number", "943 476 5919").await;
    type_into(&gp, "#date_of_birth-day", "27").await;
    type_into(&gp, "#date_of_birth-month", "3").await;
    type_into(&gp, "#date_of_birth-year", "1984").await;
    type_into(&gp, "#history", "Changing mole on the back for 3 months.").await;
    type_into(&gp, "#question", "Benign or refer?").await;
    // Photos upload as they are picked: a thumbnail and the quality check come back at once.
    type_into(&gp, "#photo-1", photo.to_str().unwrap()).await;
    type_into(&gp, "#photo-site-1", "upper back").await;
    gp.wait()
        .for_element(Locator::Css(
            "#photo-1 ~ .photo-feedback .staged-photo .check-ok",
        ))
        .await
        .expect("uploaded and checked as picked");
    // Not a photo: refused in its slot, before anything is sent.
    let not_photo = work.path().join("notes.jpg");
    std::fs::write(&not_photo, b"these are notes, not a photo").unwrap();
    type_into(&gp, "#photo-2", not_photo.to_str().unwrap()).await;
    gp.wait()
        .for_element(Locator::Css("#photo-2 ~ .photo-feedback .field-error"))
        .await
        .expect("refused in its slot");
    // A photo picked by mistake is removed before sending.
    type_into(&gp, "#photo-3", photo.to_str().unwrap()).await;
    gp.wait()
        .for_element(Locator::Css("button[data-remove]:not([data-remove=''])"))
        .await
        .unwrap();
    gp.wait()
        .for_element(Locator::Css(
            "#photo-3 ~ .photo-feedback button[data-remove]",
        ))
        .await
        .unwrap();
    shots.take(&gp, "gp-new-case-filled").await;
    click(&gp, "#photo-3 ~ .photo-feedback button[data-remove]").await;
    assert_eq!(
        gp.find_all(Locator::Css(".staged-photo"))
            .await
            .unwrap()
            .len(),
        1,
        "the removed photo is gone from the form"
    );
    // The close-up instead, larger than the display copy (its long edge is over 1600 pixels).
    type_into(&gp, "#photo-3", close_up.to_str().unwrap()).await;
    gp.find(Locator::Css("#photo-kind-3"))
        .await
        .unwrap()
        .select_by_value("close_up")
        .await
        .unwrap();
    type_into(&gp, "#photo-site-3", "upper back").await;
    gp.wait()
        .for_element(Locator::Css(
            "#photo-3 ~ .photo-feedback .staged-photo .check-ok",
        ))
        .await
        .expect("the close-up uploaded and checked as picked");
    // A mistyped NHS number: refused, and nothing the GP typed or uploaded is lost.
    let nhs = gp.find(Locator::Css("#nhs_number")).await.unwrap();
    nhs.clear().await.unwrap();
    nhs.send_keys("943 476 5918").await.unwrap();
    click(&gp, "#case-form button[type=submit]").await;
    gp.wait()
        .for_element(Locator::Css(".error-summary"))
        .await
        .expect("refused");
    let kept = |css: &'static str| {
        let gp = &gp;
        async move {
            gp.find(Locator::Css(css))
                .await
                .unwrap_or_else(|e| panic!("{css}: {e}"))
                .prop("value")
                .await
                .unwrap()
                .unwrap_or_default()
        }
    };
    assert_eq!(kept("#specialty").await, "dermatology");
    assert_eq!(
        (
            kept("#date_of_birth-day").await,
            kept("#date_of_birth-month").await,
            kept("#date_of_birth-year").await
        ),
        ("27".into(), "03".into(), "1984".into())
    );
    assert_eq!(
        kept("#history").await,
        "Changing mole on the back for 3 months."
    );
    assert_eq!(kept("#question").await, "Benign or refer?");
    assert_eq!(kept("#photo-site-1").await, "upper back");
    assert!(gp
        .find(Locator::Css("input[name=sex][value=female]:checked"))
        .await
        .is_ok());
    gp.find(Locator::Css("#photo-1 ~ .photo-feedback .staged-photo img"))
        .await
        .expect("the uploaded photo is still there");
    shots.take(&gp, "gp-refused-keeps-everything").await;
    let nhs = gp.find(Locator::Css("#nhs_number")).await.unwrap();
    nhs.clear().await.unwrap();
    nhs.send_keys("943 476 5919").await.unwrap();
    click(&gp, "#case-form button[type=submit]").await;
    gp.wait()
        .for_element(Locator::Css(".success-callout"))
        .await
        .expect("case sent");
    let case_url = gp.current_url().await.unwrap();
    let case_path = case_url.path().to_string();
    let page = text(&gp).await;
    assert!(page.contains("NHS 943 476 5919"), "{page}");
    assert!(
        page.contains("Site view, upper back") && page.contains("Close-up, upper back"),
        "the photos went with the case: {page}"
    );
    assert!(
        page.contains("born 27 March 1984 (42 years), Female"),
        "{page}"
    );
    shots.take(&gp, "gp-case-sent").await;
    sign_out(&gp).await;

    // The consultant, at a desktop.
    let doc = browser(port, 1280, 900, &work.path().join("derm-profile")).await;
    sign_in(&doc, &base, "derm@h.example").await;
    let queue = text(&doc).await;
    assert!(queue.contains("Benign or refer?"), "{queue}");
    assert!(
        queue.contains("(42 years), Female"),
        "age and sex tell cases apart: {queue}"
    );
    shots.take(&doc, "consultant-queue").await;
    click(&doc, "form[action$='/claim'] button").await;
    doc.wait()
        .for_element(Locator::Css("#advice"))
        .await
        .unwrap();
    // The confirmation is in view without scrolling, and has focus.
    wait_until(
        &doc,
        "document.activeElement.matches('[data-focus-on-load]')",
    )
    .await;
    let claimed = doc
        .execute(
            "const c = document.activeElement, r = c.getBoundingClientRect();\
             return r.top >= 0 && r.bottom <= window.innerHeight \
               && c.textContent.includes('You have claimed this case');",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        claimed, true,
        "the claim's confirmation is on screen in a 1280×900 window"
    );
    // Photos beside the reply form, the site view and the close-up side by side.
    let desk = doc
        .execute(
            "const box = s => document.querySelector(s).getBoundingClientRect();\
             const photos = box('.case-photos'), reply = box('.case-reply');\
             const shown = [...document.querySelectorAll('.photo-preview figure:not([hidden]) img')]\
               .map(i => i.getBoundingClientRect());\
             return { beside: photos.right <= reply.left && photos.top < reply.bottom \
                        && reply.top < photos.bottom && photos.top < window.innerHeight,\
                      pair: shown.length === 2 && shown[0].right <= shown[1].left \
                        && Math.abs(shown[0].top - shown[1].top) < 1 };",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        desk,
        serde_json::json!({ "beside": true, "pair": true }),
        "photos beside the reply form, site view and close-up side by side"
    );
    shots.take(&doc, "consultant-case-desktop").await;
    // A thumbnail shows its photo in the larger view, without leaving the page.
    click(&doc, ".photo-grid li:nth-child(2) a").await;
    wait_until(&doc, "document.activeElement.closest('.photo-preview')").await;
    assert_eq!(doc.current_url().await.unwrap().path(), case_path);

    // On a phone the same page stays one column, with no larger view.
    sign_in(&gp, &base, "derm@h.example").await;
    gp.goto(&format!("{base}{case_path}")).await.unwrap();
    let phone = gp
        .execute(
            "document.querySelector('.case-photos').scrollIntoView();\
             const photos = document.querySelector('.case-photos').getBoundingClientRect();\
             return { fits: document.documentElement.scrollWidth <= window.innerWidth,\
               preview: getComputedStyle(document.querySelector('.photo-preview')).display,\
               above: photos.bottom <= document.querySelector('.case-reply').getBoundingClientRect().top };",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        phone,
        serde_json::json!({ "fits": true, "preview": "none", "above": true }),
        "the photos above the reply form, nothing wider than the phone"
    );
    shots.take(&gp, "consultant-case-phone").await;
    sign_out(&gp).await;

    // The photo viewer opens fitted to the window.
    click(&doc, ".photo-preview figure:not([hidden]) a").await;
    wait_until(&doc, "document.querySelector('.photo-viewer[data-zoom]')").await;
    wait_until(&doc, "document.querySelector('.photo-frame img').complete").await;
    let natural = shown_width(&doc).await;
    assert_eq!(natural, 1600.0, "the upright photo is shown");
    let fitted = viewer(&doc).await;
    fitted.assert_fitted("opened");
    assert!(
        fitted.focused,
        "the viewer has focus, so its keys work at once"
    );
    shots.take(&doc, "consultant-photo-fitted").await;
    // A click off-centre zooms in a step, keeping the point clicked under the pointer.
    let [fx, fy, fw, fh] = fitted.frame;
    let at = ((fx + fw / 2.0).round(), (fy + fh / 4.0).round());
    mouse(&doc, |m| {
        m.then(PointerAction::MoveTo {
            duration: None,
            x: at.0,
            y: at.1,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        })
    })
    .await;
    let zoomed = viewer(&doc).await;
    assert_eq!(zoomed.zoom, 1.5, "one step in: {zoomed:?}");
    zoomed.assert_kept(&fitted, at);
    // Scrolling the wheel up zooms another step, around the point under the pointer.
    let at = ((fx + fw / 2.0 + 150.0).round(), (fy + fh * 0.6).round());
    let mut wheel = WheelActions::new("wheel".into());
    wheel.push(WheelAction::Scroll {
        duration: None,
        x: at.0 as i64,
        y: at.1 as i64,
        delta_x: 0,
        delta_y: -120,
    });
    doc.perform_actions(wheel).await.unwrap();
    let wheeled = viewer(&doc).await;
    assert_eq!(wheeled.zoom, 2.0, "another step in: {wheeled:?}");
    wheeled.assert_kept(&zoomed, at);
    shots.take(&doc, "consultant-photo-zoomed").await;
    // Dragging moves the photo with the pointer, and is not a click.
    mouse(&doc, |m| {
        m.then(PointerAction::MoveTo {
            duration: None,
            x: fx + fw / 2.0,
            y: fy + fh / 2.0,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::MoveBy {
            duration: Some(Duration::from_millis(300)),
            x: 150.0,
            y: 100.0,
        })
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        })
    })
    .await;
    let panned = viewer(&doc).await;
    assert_eq!(panned.zoom, 2.0, "a drag does not zoom: {panned:?}");
    let moved = (
        panned.img[0] - wheeled.img[0],
        panned.img[1] - wheeled.img[1],
    );
    assert!(
        (moved.0 - 150.0).abs() < 2.0 && (moved.1 - 100.0).abs() < 2.0,
        "the photo moved with the pointer: {moved:?}"
    );
    shots.take(&doc, "consultant-photo-panned").await;
    // Keys: the arrow keys move around the photo, 0 fits it again.
    let frame = doc.find(Locator::Css(".photo-frame")).await.unwrap();
    frame.send_keys(&Key::Down.to_string()).await.unwrap();
    let down = viewer(&doc).await;
    assert!(
        down.img[1] < panned.img[1] - 20.0,
        "↓ shows more of the bottom: {down:?}"
    );
    frame.send_keys("0").await.unwrap();
    viewer(&doc).await.assert_fitted("after 0");
    // ] goes to the next photo: the close-up, whose full-size copy is loaded once zoomed past
    // the display copy's pixels.
    frame.send_keys("]").await.unwrap();
    doc.wait()
        .for_element(Locator::Css("a[rel=prev]"))
        .await
        .expect("the next photo's page");
    assert!(text(&doc).await.contains("Photo 2 of 2"));
    wait_until(&doc, "document.querySelector('.photo-frame img').complete").await;
    let close = viewer(&doc).await;
    close.assert_fitted("the close-up opened");
    assert_eq!(close.source, "display");
    // Zoomed in step by step: the display copy (1200 pixels wide) until it would be stretched.
    let frame = doc.find(Locator::Css(".photo-frame")).await.unwrap();
    loop {
        frame.send_keys("+").await.unwrap();
        let step = viewer(&doc).await;
        if step.img[2] > 1200.0 {
            break;
        }
        assert_eq!(step.source, "display", "{step:?}");
        assert!(
            step.zoom < 8.0,
            "the display copy was never stretched: {step:?}"
        );
    }
    wait_until(
        &doc,
        "document.querySelector('.photo-viewer').dataset.source === 'full'",
    )
    .await;
    let full = shown_width(&doc).await;
    assert_eq!(full, 1800.0, "the full-size close-up");
    shots.take(&doc, "consultant-close-up-full-size").await;
    // [ goes back to the previous photo.
    doc.find(Locator::Css(".photo-frame"))
        .await
        .unwrap()
        .send_keys("[")
        .await
        .unwrap();
    doc.wait()
        .for_element(Locator::Css("a[rel=next]"))
        .await
        .expect("the previous photo's page");
    assert!(text(&doc).await.contains("Photo 1 of 2"));
    doc.goto(&format!("{base}{case_path}")).await.unwrap();
    type_into(&doc, "#advice", "Please send a dermoscopic image.").await;
    click(&doc, "input[value=request_information]").await;
    shots.take(&doc, "consultant-asks-for-information").await;
    click(&doc, "form[action$='/reply'] button[type=submit]").await;
    doc.wait()
        .for_element(Locator::Css(".tag.status-awaiting_gp"))
        .await
        .unwrap();
    assert!(text(&doc).await.contains("Waiting for the GP"));

    // The GP answers from the phone.
    sign_in(&gp, &base, "gp@a.example").await;
    gp.goto(&format!("{base}{case_path}")).await.unwrap();
    let page = text(&gp).await;
    assert!(page.contains("Your response needed"), "{page}");
    assert!(page.contains("Request for information"), "{page}");
    type_into(&gp, "#message", "Dermoscopy attached.").await;
    type_into(&gp, "#respond-photo-1", photo.to_str().unwrap()).await;
    gp.wait()
        .for_element(Locator::Css("#respond-photo .staged-photo img"))
        .await
        .expect("the response's photo uploaded as picked");
    shots.take(&gp, "gp-responds").await;
    click(&gp, "form[action$='/respond'] button[type=submit]").await;
    gp.wait()
        .for_element(Locator::Css(".tag.status-claimed"))
        .await
        .expect("back with the consultant who asked");

    // The consultant who asked finds it among the cases they hold, marked, and closes it.
    doc.goto(&format!("{base}/queue")).await.unwrap();
    doc.wait()
        .for_element(Locator::Css(".tag.gp-replied"))
        .await
        .expect("marked GP replied in the cases they hold");
    shots.take(&doc, "consultant-sees-gp-replied").await;
    click(&doc, "td[data-label=Question] a").await;
    doc.wait()
        .for_element(Locator::Css("#advice"))
        .await
        .unwrap();
    type_into(&doc, "#advice", "Benign naevus: reassure and safety-net.").await;
    click(&doc, "input[value=manage_in_primary_care]").await;
    // Topics are ticked from the dermatology list; anything else is a note that stays here.
    click(&doc, "input[name=topics][value=benign-lesion]").await;
    type_into(&doc, "#other_topic", "Dermoscopy teaching case").await;
    shots.take(&doc, "consultant-tags-topics").await;
    click(&doc, "form[action$='/reply'] button[type=submit]").await;
    doc.wait()
        .for_element(Locator::Css(".tag.status-closed"))
        .await
        .unwrap();
    shots.take(&doc, "consultant-closed").await;

    // The GP hears in the app: the unread count in the header, the notification, its link.
    gp.goto(&format!("{base}/cases")).await.unwrap();
    let count = gp
        .find(Locator::Css("#unread-count"))
        .await
        .expect("an unread count in the header")
        .text()
        .await
        .unwrap();
    // The request for information was read when the GP opened the case to respond.
    assert!(count.starts_with('1'), "the advice: {count:?}");
    click(&gp, "#notifications-link").await;
    let page = text(&gp).await;
    assert!(page.contains("Advice from Dermatology is ready"), "{page}");
    assert!(
        page.contains("Dermatology needs more information"),
        "{page}"
    );
    shots.take(&gp, "gp-notifications").await;
    click(&gp, &format!(".notification-list a[href='{case_path}']")).await;
    gp.wait()
        .for_url(&url::Url::parse(&format!("{base}{case_path}")).unwrap())
        .await
        .unwrap();
    let page = text(&gp).await;
    assert!(
        page.contains("Benign naevus: reassure and safety-net."),
        "{page}"
    );
    assert!(page.contains("Manage in primary care"));
    assert!(page.contains("Other topic (not in reports): Dermoscopy teaching case"));
    shots.take(&gp, "gp-reads-advice").await;
    gp.goto(&format!("{base}/notifications/settings"))
        .await
        .unwrap();
    assert!(text(&gp).await.contains("Advice has arrived"));
    shots.take(&gp, "gp-notification-settings").await;
    sign_out(&gp).await;

    // The commissioner sees the case in the figures, and no patient identifiers.
    let icb = browser(port, 1280, 900, &work.path().join("icb-profile")).await;
    sign_in(&icb, &base, "c@icb.example").await;
    icb.wait()
        .for_element(Locator::Css("dl.summary dd"))
        .await
        .expect("the dashboard");
    let headline = |i: usize| {
        format!("return document.querySelectorAll('dl.summary dd')[{i}].textContent.trim()")
    };
    let submitted = icb.execute(&headline(0), vec![]).await.unwrap();
    let closed = icb.execute(&headline(2), vec![]).await.unwrap();
    assert_eq!(
        (submitted.as_str(), closed.as_str()),
        (Some("1"), Some("1")),
        "one case submitted and closed"
    );
    let page = text(&icb).await;
    assert!(
        page.contains("Dermatology") && page.contains("100%"),
        "{page}"
    );
    assert!(
        page.contains("Benign lesion / mole") && !page.contains("Dermoscopy teaching case"),
        "list labels, never the other topic: {page}"
    );
    assert!(
        !page.contains("943 476 5919") && !page.contains("9434765919"),
        "no NHS numbers for commissioners"
    );
    shots.take(&icb, "commissioner-dashboard").await;
    sign_out(&icb).await;

    // An admin finds everyone who saw the patient's case.
    sign_in(&icb, &base, "admin@aghub.example").await;
    icb.goto(&format!("{base}/admin/audit?nhs_number=943+476+5919"))
        .await
        .unwrap();
    wait_until(
        &icb,
        "document.body.innerText.includes('Download them all')",
    )
    .await;
    let page = text(&icb).await;
    assert!(
        page.contains("derm@h.example") && page.contains("case.viewed"),
        "{page}"
    );
    shots.take(&icb, "admin-audit-trail").await;
    icb.close().await.unwrap();

    // A case for the wrong specialty: the consultant redirects it, and it moves on, open.
    let gp_id = aghub::service::accounts::user_id_by_email(&app.state.db, "gp@a.example")
        .await
        .unwrap();
    let gp_user = aghub::service::accounts::principal(&app.state.db, &gp_id)
        .await
        .unwrap()
        .unwrap();
    let seed_case = |nhs_number: &'static str, question: &'static str, authorised: bool| {
        let (state, gp_user) = (app.state.clone(), gp_user.clone());
        async move {
            let id = aghub::service::cases::new_case_id();
            let mut photos = aghub::service::photos::PhotoBatch::new(&state, &id);
            photos.add(phone_jpeg(800, 600, 1, 7)).await.unwrap();
            let input = aghub::service::cases::CaseInput {
                specialty: "dermatology".into(),
                nhs_number: nhs_number.into(),
                date_of_birth: "1950-02-01".into(),
                urgency: "routine".into(),
                sex: "male".into(),
                history: "Palpitations and a flushed rash on the chest.".into(),
                question: question.into(),
                conversion_authorised: authorised.to_string(),
                idempotency_key: None,
            };
            aghub::service::cases::create(&state, &gp_user, input, photos, &id)
                .await
                .unwrap();
        }
    };
    seed_case(
        "401 023 2137",
        "Is the rash related to his heart rhythm?",
        false,
    )
    .await;
    doc.goto(&format!("{base}/queue")).await.unwrap();
    click(&doc, "form[action$='/claim'] button").await;
    doc.wait()
        .for_element(Locator::Css("#advice"))
        .await
        .unwrap();
    type_into(
        &doc,
        "#advice",
        "Rash is a flushing pattern; the palpitations need cardiology.",
    )
    .await;
    click(&doc, "input[value=redirect_specialty]").await;
    doc.find(Locator::Css("#redirect_to"))
        .await
        .unwrap()
        .select_by_value("cardiology")
        .await
        .unwrap();
    shots.take(&doc, "consultant-redirects").await;
    click(&doc, "form[action$='/reply'] button[type=submit]").await;
    doc.wait()
        .for_element(Locator::Css(".tag.status-submitted"))
        .await
        .expect("open again, in another queue");
    let page = text(&doc).await;
    assert!(page.contains("Cardiology case"), "{page}");
    assert!(
        page.contains("Rash is a flushing pattern; the palpitations need cardiology."),
        "the note stays with the case: {page}"
    );
    shots.take(&doc, "consultant-redirected").await;

    // Referral outcomes: with the GP's authorisation the consultant converts the referral;
    // without it the GP must refer, is flagged when that is overdue, and confirms it.
    let claim_next = |question: &'static str| {
        let doc = &doc;
        let base = &base;
        async move {
            seed_case(
                "943 476 5919",
                question,
                question.starts_with("Conversion authorised"),
            )
            .await;
            doc.goto(&format!("{base}/queue")).await.unwrap();
            click(doc, "form[action$='/claim'] button").await;
            doc.wait()
                .for_element(Locator::Css("#advice"))
                .await
                .unwrap();
        }
    };
    claim_next("Conversion authorised: biopsy?").await;
    type_into(
        &doc,
        "#advice",
        "Needs excision biopsy: booked into our clinic.",
    )
    .await;
    click(&doc, "input[value=refer_urgent]").await;
    click(&doc, "input[name=convert]").await;
    shots.take(&doc, "consultant-converts").await;
    click(&doc, "form[action$='/reply'] button[type=submit]").await;
    doc.wait()
        .for_element(Locator::Css(".tag.status-converted"))
        .await
        .expect("converted: the hospital's referral");
    assert!(text(&doc).await.contains("the GP does not need to refer"));

    claim_next("Not authorised: is this a melanoma?").await;
    assert!(
        doc.find(Locator::Css("input[name=convert]")).await.is_err(),
        "no conversion without the GP's authorisation"
    );
    type_into(
        &doc,
        "#advice",
        "Suspicious for melanoma: refer on the two-week wait.",
    )
    .await;
    click(&doc, "input[value=refer_two_week_wait]").await;
    click(&doc, "form[action$='/reply'] button[type=submit]").await;
    doc.wait()
        .for_element(Locator::Css(".tag.status-refer-urgent"))
        .await
        .expect("left for the GP to refer");
    let page = text(&doc).await;
    assert!(
        page.contains("GP to refer (two-week wait)") && page.contains("The GP is to refer"),
        "{page}"
    );
    let case_url = doc.current_url().await.unwrap();

    // Two days later (the deadline was the end of the next working day) the GP opens aghub.
    app.clock.advance(2 * 24 * 3_600_000);
    sign_in(&gp, &base, "gp@a.example").await;
    gp.goto(&format!("{base}/cases")).await.unwrap();
    gp.wait()
        .for_element(Locator::Css(".tag.overdue"))
        .await
        .expect("the overdue referral flagged in the GP's list");
    let list = text(&gp).await;
    assert!(
        list.contains("You need to refer")
            && list.contains("1 patient needs a referral a consultant advised, 1 overdue"),
        "{list}"
    );
    shots.take(&gp, "gp-referral-overdue").await;
    gp.goto(case_url.as_str()).await.unwrap();
    let page = text(&gp).await;
    assert!(
        page.contains("You need to refer") && page.contains("Referral overdue"),
        "{page}"
    );
    let today = jiff::Timestamp::from_millisecond(app.clock.now_ms())
        .unwrap()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date();
    type_into(&gp, "#referred_on-day", &today.day().to_string()).await;
    type_into(&gp, "#referred_on-month", &today.month().to_string()).await;
    type_into(&gp, "#referred_on-year", &today.year().to_string()).await;
    type_into(&gp, "#reference", "0001 2345 6789").await;
    shots.take(&gp, "gp-confirms-referral").await;
    click(&gp, "form[action$='/referral-made'] button[type=submit]").await;
    gp.wait()
        .for_element(Locator::Css(".tag.status-referred"))
        .await
        .expect("referral made");
    let page = text(&gp).await;
    assert!(
        page.contains("Referral made") && page.contains("e-RS reference 0001 2345 6789"),
        "{page}"
    );
    shots.take(&gp, "gp-referral-made").await;

    gp.close().await.unwrap();
    doc.close().await.unwrap();
    app.stop().await;
}

/// Issue 16 on a phone: the GP makes the link (a QR code on their screen), the patient opens it
/// on a 360-pixel-wide phone, gets a wrong date of birth refused until the link pauses, takes a
/// blurred close-up (asked to retake it), a sharp one and a site view, consents and sends; the
/// consultant sees the photos marked as the patient's. axe checks every page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_sends_photos_from_their_phone() {
    let backends = Backends::new(Stack::SqliteFs).await;
    let app = TestApp::start(&backends).await;
    let base = app.base.replace("127.0.0.1", "localhost");
    let practice = app.add_practice("A81001").await;
    let gp_id = app
        .add_user("gp@a.example", Role::Gp, Some(&practice.id), &[])
        .await;
    let derm = app
        .add_user("derm@h.example", Role::Consultant, None, &["dermatology"])
        .await;
    app.on_local_rota_today(&derm, "dermatology").await;
    let token = app.token_for(&gp_id).await;
    let r = app
        .submit_case(&token, crate::cases::case_form("dermatology", "routine", 1))
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    let case_id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let work = tempfile::tempdir().unwrap();
    let blurred = work.path().join("IMG_0100.JPG");
    let sharp = aghub_testkit::synth::skin_photo(1600, 1200, 11);
    std::fs::write(
        &blurred,
        aghub_testkit::synth::encode_jpeg(&image::imageops::fast_blur(&sharp, 5.0), 90),
    )
    .unwrap();
    let close_up = work.path().join("IMG_0101.JPG");
    std::fs::write(&close_up, phone_jpeg(1600, 1200, 6, 101)).unwrap();
    let site = work.path().join("IMG_0102.JPG");
    std::fs::write(&site, phone_jpeg(1600, 1200, 1, 102)).unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../test-artifacts/browser-patient");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut shots = Shots { dir, n: 0 };
    let (_driver, port) = start_driver().await;

    // The GP makes the link: a QR code to scan in the room.
    let gp = browser(port, 1280, 900, &work.path().join("gp-profile")).await;
    sign_in(&gp, &base, "gp@a.example").await;
    gp.goto(&format!("{base}/cases/{case_id}")).await.unwrap();
    click(&gp, "form[action$='/photo-requests'] button[type=submit]").await;
    gp.wait()
        .for_element(Locator::Css(".qr-code svg"))
        .await
        .expect("a QR code");
    shots.take(&gp, "gp-patient-link").await;
    let link = gp
        .find(Locator::Css("#patient-link"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .expect("the link");
    let link = link.replace("127.0.0.1", "localhost");

    // The patient, on a small phone.
    let phone = browser(port, 360, 740, &work.path().join("patient-profile")).await;
    phone.goto(&link).await.unwrap();
    let page = text(&phone).await;
    assert!(page.contains("Practice A81001"), "{page}");
    assert!(!page.contains("943 476 5919") && !page.contains("Pigmented"));
    shots.take(&phone, "patient-start").await;
    for attempt in 1..=5 {
        type_into(&phone, "#date_of_birth_day", "1").await;
        type_into(&phone, "#date_of_birth_month", "1").await;
        type_into(&phone, "#date_of_birth_year", "1990").await;
        click(&phone, "form[action$='/verify'] button[type=submit]").await;
        // Each refusal says something new, so the wait cannot see the previous page.
        let expected = if attempt < 5 {
            format!("({} tries left)", 5 - attempt)
        } else {
            "paused for 15 minutes".to_string()
        };
        wait_until(
            &phone,
            &format!(
                "document.querySelector('#error-summary') && document.body.innerText.includes('{expected}')"
            ),
        )
        .await;
        let page = text(&phone).await;
        if attempt == 1 {
            assert!(page.contains("does not match"), "{page}");
            shots.take(&phone, "patient-wrong-date-of-birth").await;
        }
        if attempt == 5 {
            assert!(page.contains("paused for 15 minutes"), "{page}");
        }
        for id in ["day", "month", "year"] {
            phone
                .find(Locator::Css(&format!("#date_of_birth_{id}")))
                .await
                .unwrap()
                .clear()
                .await
                .unwrap();
        }
    }
    app.clock.advance(15 * 60_000);
    type_into(&phone, "#date_of_birth_day", "27").await;
    type_into(&phone, "#date_of_birth_month", "3").await;
    type_into(&phone, "#date_of_birth_year", "1984").await;
    click(&phone, "form[action$='/verify'] button[type=submit]").await;
    phone
        .wait()
        .for_element(Locator::Css("#photo-close_up"))
        .await
        .expect("the capture page");
    let width: f64 = phone
        .execute("return document.documentElement.scrollWidth", vec![])
        .await
        .unwrap()
        .as_f64()
        .unwrap();
    assert!(width <= 360.0, "no sideways scrolling ({width}px)");
    shots.take(&phone, "patient-capture").await;

    // A blurred close-up: asked to take it again. Each photo goes as soon as it is picked (its
    // own upload, with progress), no button to press.
    type_into(&phone, "#photo-close_up", blurred.to_str().unwrap()).await;
    phone
        .wait()
        .for_element(Locator::Css(".photo-advice"))
        .await
        .expect("retake advice");
    assert!(text(&phone).await.contains("It looks blurred"));
    shots.take(&phone, "patient-retake").await;
    click(&phone, ".patient-photo form[action$='/remove'] button").await;
    wait_until(
        &phone,
        "document.querySelector('main') && document.body.innerText.includes('You have not added a photo yet')",
    )
    .await;
    type_into(&phone, "#photo-close_up", close_up.to_str().unwrap()).await;
    phone
        .wait()
        .for_element(Locator::Css(".patient-photo .nhsuk-tag--green"))
        .await
        .expect("looks good");
    type_into(&phone, "#photo-site", site.to_str().unwrap()).await;
    wait_until(
        &phone,
        "document.querySelectorAll('.patient-photo').length == 2",
    )
    .await;
    shots.take(&phone, "patient-photos-ready").await;
    click(&phone, "#consent").await;
    click(&phone, "form[action$='/send'] button[type=submit]").await;
    phone
        .wait()
        .for_element(Locator::Css(".nhsuk-panel--confirmation"))
        .await
        .expect("sent");
    assert!(text(&phone)
        .await
        .contains("2 photos sent to Practice A81001"));
    shots.take(&phone, "patient-sent").await;

    // The consultant sees them, marked as the patient's.
    let doc = browser(port, 1280, 900, &work.path().join("doc-profile")).await;
    sign_in(&doc, &base, "derm@h.example").await;
    doc.goto(&format!("{base}/cases/{case_id}")).await.unwrap();
    let page = text(&doc).await;
    assert!(
        page.matches("(taken by the patient)").count() >= 2,
        "{page}"
    );
    shots.take(&doc, "consultant-sees-patient-photos").await;

    gp.close().await.unwrap();
    phone.close().await.unwrap();
    doc.close().await.unwrap();
    app.stop().await;
}
