//! The published OpenAPI document against the running service, checked by an independent client
//! generator and fuzzer (schemathesis, from PyPI): every response must match its documented
//! schema, content type and headers, every status must be documented, and none may be a 5xx.
//! Run as a GP and as a consultant on the demo world, so most routes reach real cases.
//!
//! "Schema-valid request rejected" is not among the checks on purpose: a schema cannot express
//! the NHS number's Modulus 11 check or what makes bytes a photo, so the service rightly refuses
//! some requests the schema allows (with a documented 422 or 415).

use std::process::Command;

use crate::helpers::{Backends, Stack, TestApp};

on_both_stacks!(
    schemathesis_finds_no_undocumented_status_schema_violation_or_server_error,
    the_frameworks_own_refusals_answer_in_the_contracts_json_shape,
);

const CHECKS: &str = "not_a_server_error,status_code_conformance,response_schema_conformance,\
    content_type_conformance,response_headers_conformance";

async fn schemathesis_finds_no_undocumented_status_schema_violation_or_server_error(stack: Stack) {
    let b = Backends::new(stack).await;
    let app = TestApp::start(&b).await;
    aghub::demo::seed(&app.state).await.expect("demo world");
    let schema = app.url("/api/v1/openapi.json");
    for email in [
        "asha.patel@riverside.example",
        "fiona.reid@hospital.example",
    ] {
        let user = aghub::db::users::id_by_email(&app.state.db, email)
            .await
            .unwrap();
        let token = app.token_for(&user).await;
        let schema = schema.clone();
        let scratch = b.dir.path().to_path_buf();
        let out = tokio::task::spawn_blocking(move || {
            // Its crash cache goes to the test's temporary folder, not into the checkout. One
            // worker: with two threads, Python 3.11's ast.parse (which hypothesis calls to
            // describe its filters) failed once with "AST constructor recursion depth mismatch",
            // a CPython thread-safety bug, not a finding about aghub.
            Command::new("st")
                .current_dir(&scratch)
                .args(["run", &schema, "--max-examples", "25", "--workers", "1"])
                .args(["--seed", "20261130", "--checks", CHECKS])
                .args(["-H", &format!("Authorization: Bearer {token}")])
                .env("NO_COLOR", "1")
                .output()
                .expect("schemathesis (`st`) is not installed: run the suite with scripts/test")
        })
        .await
        .unwrap();
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "schemathesis as {email} found problems:\n{report}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            report.contains("passed"),
            "schemathesis ran no test cases as {email}:\n{report}"
        );
    }
}

/// Refusals made before a handler runs (extractors, routing, body limits) keep the contract's
/// `{"error": {"code", "message"}}` body, not the framework's plain text.
async fn the_frameworks_own_refusals_answer_in_the_contracts_json_shape(stack: Stack) {
    use reqwest::StatusCode;
    let b = Backends::new(stack).await;
    let app = TestApp::start(&b).await;
    let practice = app.add_practice("A81001").await;
    let gp = app
        .add_user(
            "gp@a.example",
            aghub::domain::Role::Gp,
            Some(&practice.id),
            &[],
        )
        .await;
    let token = app.token_for(&gp).await;
    let client = app.api();
    let cases = app.url("/api/v1/cases");
    for (what, request, status, code) in [
        (
            "a JSON body where multipart is expected",
            client
                .post(&cases)
                .json(&serde_json::json!({"specialty": "dermatology"})),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "a query parameter given twice",
            client.get(format!("{cases}?status=closed&status=claimed")),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "a method the route does not take",
            client.delete(&cases),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ] {
        let r = request.bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), status, "{what}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{what}"
        );
        assert_eq!(crate::helpers::error_code(r).await, code, "{what}");
    }
}
