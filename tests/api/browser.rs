//! The whole journey in a real headless Chromium (Debian's chromium + chromium-driver):
//! a GP on a phone-sized screen submits a dermatology case with a photo, a consultant at a
//! desktop claims it, looks at the full-size photo, asks for more information, the GP answers,
//! the consultant closes it and the GP reads the advice. Screenshots of every step are saved
//! under target/test-artifacts/browser/ for people to look at.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aghub::clock::Clock;
use aghub::domain::Role;
use fantoccini::{Client, ClientBuilder, Locator};

use crate::helpers::{phone_jpeg, Backends, Stack, TestApp, PASSWORD};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_driver() -> (Driver, u16) {
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
    let mut options = serde_json::json!({
        "binary": CHROMIUM,
        "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", format!("--user-data-dir={}", profile.display()),
            format!("--window-size={width},{height}"),
        ]
    });
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

struct Shots {
    dir: PathBuf,
    n: usize,
}

impl Shots {
    /// Saves a screenshot of the page, and checks it with axe-core first: every page the
    /// journey shows must have no WCAG 2.2 AA violation (at the browser's size: phone or desktop).
    async fn take(&mut self, c: &Client, name: &str) {
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
async fn axe_violations(c: &Client) -> serde_json::Value {
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

async fn sign_in(c: &Client, base: &str, email: &str) {
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

async fn text(c: &Client) -> String {
    c.find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn type_into(c: &Client, css: &str, text: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .send_keys(text)
        .await
        .unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
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
    app.add_user("gp@a.example", Role::Gp, Some(&practice.id), &[])
        .await;
    let derm = app
        .add_user("derm@h.example", Role::Consultant, None, &["dermatology"])
        .await;
    app.on_local_rota_today(&derm, "dermatology").await;

    let work = tempfile::tempdir().unwrap();
    let photo = work.path().join("IMG_0042.JPG");
    std::fs::write(&photo, phone_jpeg(1600, 1200, 6, 42)).unwrap();
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
        page.contains("Site view, upper back"),
        "the photo went with the case: {page}"
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
    assert!(text(&doc).await.contains("You have claimed this case"));
    click(&doc, ".photo-grid a").await;
    doc.wait()
        .for_element(Locator::Css(".photo-frame img"))
        .await
        .unwrap();
    let natural: f64 = doc
        .execute("const i = document.querySelector('.photo-frame img'); return i.complete ? i.naturalWidth : -1", vec![])
        .await
        .unwrap()
        .as_f64()
        .unwrap();
    assert_eq!(natural, 1600.0, "the full-size, upright photo is shown");
    click(&doc, "label[for=zoom]").await;
    shots.take(&doc, "consultant-photo-zoomed").await;
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

    // The GP reads the advice.
    gp.goto(&format!("{base}{case_path}")).await.unwrap();
    let page = text(&gp).await;
    assert!(
        page.contains("Benign naevus: reassure and safety-net."),
        "{page}"
    );
    assert!(page.contains("Manage in primary care"));
    assert!(page.contains("Other topic (not in reports): Dermoscopy teaching case"));
    shots.take(&gp, "gp-reads-advice").await;
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
