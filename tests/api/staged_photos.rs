//! Photos uploaded as the GP picks them (`/api/v1/staged-photos`): cleaned like case photos,
//! the owner's alone, taken once by a case or response, and swept when nobody sends them.

use reqwest::multipart::Form;
use reqwest::StatusCode;
use serde_json::Value;

use crate::cases::{jpeg_part, text_form, World};
use crate::helpers::{
    error_code, exiftool_tags, phone_jpeg, stored_object_bytes, stored_objects, Stack,
};

on_both_stacks!(
    a_staged_photo_is_clean_private_to_its_gp_and_joins_the_case_that_names_it,
    a_staged_photo_goes_with_one_case_only_even_when_thirty_submissions_race,
    staged_photos_nobody_sends_are_swept_and_removed_ones_go_at_once,
);

const H: i64 = 3_600_000;

async fn stage(w: &World, token: &str, bytes: Vec<u8>) -> reqwest::Response {
    w.client()
        .post(w.app.url("/api/v1/staged-photos"))
        .bearer_auth(token)
        .multipart(Form::new().part("photo", jpeg_part(bytes)))
        .send()
        .await
        .unwrap()
}

async fn staged_id(w: &World, seed: u64) -> String {
    let r = stage(w, &w.gp, phone_jpeg(1200, 900, 6, seed)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    body["id"].as_str().unwrap().to_string()
}

/// A dermatology case whose photos are the staged ones named, each a site view.
fn case_with(staged: &[&str]) -> Form {
    let mut form = text_form("dermatology", "routine");
    for id in staged {
        form = form
            .text("staged_photo", id.to_string())
            .text("photo_kind", "site")
            .text("photo_site", "left shin");
    }
    form
}

const LEAKS: &[&str] = &[
    "GPS",
    "Serial",
    "Make",
    "Model",
    "MakerNote",
    "DateTimeOriginal",
    "XMP",
    "IPTC",
    "Comment",
    "ThumbnailImage",
];

async fn a_staged_photo_is_clean_private_to_its_gp_and_joins_the_case_that_names_it(stack: Stack) {
    let w = World::new(stack).await;
    let r = stage(&w, &w.gp, phone_jpeg(1200, 900, 6, 1)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let staged: Value = r.json().await.unwrap();
    let id = staged["id"].as_str().unwrap().to_string();
    // Taken with the phone on its side (orientation 6): stored upright, as the GP saw it.
    assert_eq!(
        (&staged["width"], &staged["height"]),
        (&Value::from(1200), &Value::from(900))
    );
    assert!(staged["warnings"].is_array() && staged["expires_at"].is_string());

    // Every object in the store, read by an independent tool: no camera metadata.
    let objects = stored_object_bytes(&w.backends).await;
    assert_eq!(objects.len(), 3, "full, display and thumbnail");
    for (key, bytes) in &objects {
        let leaked: Vec<_> = exiftool_tags(bytes)
            .into_iter()
            .filter(|t| LEAKS.iter().any(|bad| t.contains(bad)))
            .collect();
        assert!(leaked.is_empty(), "{key} leaks {leaked:?}");
    }

    let thumb = format!("/api/v1/staged-photos/{id}?size=thumb");
    let r = w.get(&w.gp, &thumb).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "private, no-store");
    // The owner's alone: another GP of the same practice, another practice, a consultant.
    for other in [&w.gp_same_practice, &w.gp_other_practice] {
        assert_eq!(w.get(other, &thumb).await.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(
        w.get(&w.derm_local, &thumb).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        stage(&w, &w.derm_local, phone_jpeg(300, 200, 1, 2))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    // Nor can another GP send it with their case.
    let r = w.submit(&w.gp_same_practice, case_with(&[&id])).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(r).await, "staged_photo_unavailable");

    // Bad uploads get precise errors and store nothing.
    let before = stored_objects(&w.backends).await;
    let r = stage(&w, &w.gp, b"not an image at all".to_vec()).await;
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let mut truncated = phone_jpeg(800, 600, 1, 3);
    truncated.truncate(truncated.len() / 3);
    let r = stage(&w, &w.gp, truncated).await;
    assert!(r.status().is_client_error(), "{}", r.status());
    let r = w
        .client()
        .post(w.app.url("/api/v1/staged-photos"))
        .bearer_auth(&w.gp)
        .multipart(Form::new().text("nothing", "here"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(stored_objects(&w.backends).await, before);

    // The case names it, with a direct photo too: both join, in order, described.
    let form = case_with(&[&id])
        .part("photo", jpeg_part(phone_jpeg(1000, 800, 1, 4)))
        .text("photo_kind", "close_up");
    let r = w.submit(&w.gp, form).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let case: Value = r.json().await.unwrap();
    let photos = case["photos"].as_array().unwrap();
    assert_eq!(photos.len(), 2);
    assert_eq!(
        (&photos[0]["kind"], &photos[0]["body_site"]),
        (&Value::from("site"), &Value::from("left shin"))
    );
    assert_eq!(photos[0]["width"], 1200);
    assert_eq!(photos[1]["kind"], "close_up");
    let case_id = case["id"].as_str().unwrap();
    let pid = photos[0]["id"].as_str().unwrap();
    let r = w
        .get(
            &w.derm_local,
            &format!("/api/v1/cases/{case_id}/photos/{pid}?size=thumb"),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the consultant sees it with the case"
    );
    // Taken: no longer staged, and it cannot go with another case.
    assert_eq!(w.get(&w.gp, &thumb).await.status(), StatusCode::NOT_FOUND);
    let r = w.submit(&w.gp, case_with(&[&id])).await;
    assert_eq!(error_code(r).await, "staged_photo_unavailable");
    assert_eq!(stored_objects(&w.backends).await, before + 3);

    // The GP's response to a request for information takes staged photos the same way.
    let claim = w
        .post(&w.derm_local, &format!("/api/v1/cases/{case_id}/claim"))
        .await;
    assert_eq!(claim.status(), StatusCode::OK);
    let ask = w
        .post_json(
            &w.derm_local,
            &format!("/api/v1/cases/{case_id}/reply"),
            serde_json::json!({"advice": "A close-up in daylight, please.", "outcome": "request_information"}),
        )
        .await;
    assert_eq!(ask.status(), StatusCode::OK);
    let more = staged_id(&w, 5).await;
    let r = w
        .client()
        .post(w.app.url(&format!("/api/v1/cases/{case_id}/respond")))
        .bearer_auth(&w.gp)
        .multipart(
            Form::new()
                .text("message", "Close-up attached.")
                .text("staged_photo", more.clone())
                .text("photo_kind", "close_up"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let case: Value = r.json().await.unwrap();
    let photos = case["photos"].as_array().unwrap();
    assert_eq!(photos.len(), 3);
    assert_eq!(
        (&photos[2]["kind"], &photos[2]["with_response"]),
        (&Value::from("close_up"), &Value::from(true))
    );

    let audit: Value = w.get_json(&w.admin, "/api/v1/audit").await;
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in [
        "photo.staged",
        "photo.staged_viewed",
        "photo.staged_refused",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
}

async fn a_staged_photo_goes_with_one_case_only_even_when_thirty_submissions_race(stack: Stack) {
    let w = World::new(stack).await;
    let id = staged_id(&w, 7).await;
    // Thirty distinct submissions (no idempotency key) that share one staged photo.
    let tries = (0..30).map(|_| w.submit(&w.gp, case_with(&[&id])));
    let statuses: Vec<StatusCode> = futures::future::join_all(tries)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{statuses:?}");
    assert!(statuses
        .iter()
        .all(|s| *s == StatusCode::CREATED || *s == StatusCode::UNPROCESSABLE_ENTITY));
    let list: Value = w.get_json(&w.gp, "/api/v1/cases").await;
    assert_eq!(
        list["cases"].as_array().unwrap().len(),
        1,
        "one case, nothing half-written"
    );
    assert_eq!(stored_objects(&w.backends).await, 3, "one photo's objects");
}

async fn staged_photos_nobody_sends_are_swept_and_removed_ones_go_at_once(stack: Stack) {
    let w = World::new(stack).await;
    let removed = staged_id(&w, 8).await;
    let forgotten = staged_id(&w, 9).await;
    assert_eq!(stored_objects(&w.backends).await, 6);

    // Removing: the owner only; then its objects are gone from the store.
    let path = format!("/api/v1/staged-photos/{removed}");
    let r = w
        .client()
        .delete(w.app.url(&path))
        .bearer_auth(&w.gp_same_practice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = w
        .client()
        .delete(w.app.url(&path))
        .bearer_auth(&w.gp)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(stored_objects(&w.backends).await, 3);

    // Not sent within a day: no longer usable; its objects go at the next sweep after that.
    w.app.clock.advance(24 * H + 1);
    let r = w.submit(&w.gp, case_with(&[&forgotten])).await;
    assert_eq!(error_code(r).await, "staged_photo_unavailable");
    aghub::service::photos::sweep_orphans(&w.app.state)
        .await
        .unwrap();
    assert_eq!(
        stored_objects(&w.backends).await,
        3,
        "kept through the grace period"
    );
    w.app.clock.advance(2 * H);
    let swept = aghub::service::photos::sweep_orphans(&w.app.state)
        .await
        .unwrap();
    assert_eq!(swept, 3);
    assert_eq!(stored_objects(&w.backends).await, 0);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM staged_photos")
        .fetch_one(w.app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
}
