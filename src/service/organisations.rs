//! ICBs, trusts and the practices they hold (issue 15): added by hand, or practices in bulk
//! from the NHS ODS files. Every change is audited in its own transaction; an import is one
//! transaction, so a file is taken whole or not at all.

use std::collections::{BTreeSet, HashMap};

use serde_json::json;

use super::{record_change, Actor, FieldError, ServiceError, ServiceResult};
use crate::db::organisations::{self as orgs, Organisation};
use crate::db::Db;
use crate::domain::parse_ods_code;
use crate::ods::{epraccur, list_sizes, LineError};

fn invalid(field: &'static str, code: &'static str, message: impl Into<String>) -> ServiceError {
    ServiceError::Invalid(vec![FieldError {
        field,
        code,
        message: message.into(),
    }])
}

/// `aghub org add`: an ICB, or a trust (with `icb`, the ICB whose practices its local rotas
/// serve).
pub async fn add(
    db: &Db,
    actor: Actor<'_>,
    ods: &str,
    name: &str,
    kind: &str,
    icb: Option<&str>,
    now_ms: i64,
) -> ServiceResult<Organisation> {
    let ods = parse_ods_code(ods).map_err(|m| invalid("ods", "invalid_ods_code", m))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(invalid("name", "missing_name", "--name must not be empty"));
    }
    if !matches!(kind, "icb" | "trust") {
        return Err(invalid(
            "kind",
            "invalid_kind",
            format!("--kind '{kind}' is neither icb nor trust"),
        ));
    }
    let icb_id = match (kind, icb) {
        ("icb", Some(_)) => {
            return Err(invalid(
                "icb",
                "icb_of_icb",
                "--icb is for trusts: an ICB belongs to no other",
            ))
        }
        (_, Some(code)) => Some(icb_by_ods(db, code).await?.id),
        (_, None) => None,
    };
    let mut tx = db.begin().await?;
    let org = orgs::insert(&mut tx, &ods, name, kind, icb_id.as_deref(), now_ms).await?;
    record_change(
        &mut tx,
        actor,
        "organisation.added",
        &org.id,
        json!({ "ods": ods, "kind": kind }),
        now_ms,
    )
    .await?;
    tx.commit().await?;
    Ok(org)
}

/// The ICB with this ODS code, or a clear refusal.
pub async fn icb_by_ods(db: &Db, code: &str) -> ServiceResult<Organisation> {
    let code = parse_ods_code(code).map_err(|m| invalid("icb", "invalid_ods_code", m))?;
    match orgs::find_by_ods(db, &code).await? {
        Some(o) if o.kind == "icb" => Ok(o),
        Some(_) => Err(invalid("icb", "not_an_icb", format!("{code} is a trust, not an ICB"))),
        None => Err(invalid(
            "icb",
            "unknown_icb",
            format!("there is no ICB {code}: add it with aghub org add --ods {code} --name NAME --kind icb"),
        )),
    }
}

/// What an import did (printed by the command line, kept in the audit trail).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImportReport {
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub skipped_not_active: usize,
    pub skipped_not_gp: usize,
}

/// A file that cannot be imported, every bad line named (the first 20, and how many more).
fn bad_lines(errors: &[LineError]) -> ServiceError {
    let mut text = format!(
        "nothing imported: {} line(s) cannot be read: ",
        errors.len()
    );
    let shown: Vec<_> = errors.iter().take(20).map(ToString::to_string).collect();
    text.push_str(&shown.join("; "));
    if errors.len() > 20 {
        text.push_str(&format!("; and {} more", errors.len() - 20));
    }
    invalid("file", "invalid_rows", text)
}

/// `aghub practice import --epraccur FILE`: adds the active GP practices aghub does not have,
/// updates the name, ICB and postcode of those it has, and leaves everything else alone.
/// Running it twice changes nothing the second time.
pub async fn import_epraccur(
    db: &Db,
    actor: Actor<'_>,
    bytes: &[u8],
    now_ms: i64,
) -> ServiceResult<ImportReport> {
    let parsed = epraccur::parse(bytes).map_err(|e| bad_lines(&e))?;
    let icbs: HashMap<String, String> = orgs::list(db)
        .await?
        .into_iter()
        .filter(|o| o.kind == "icb")
        .map(|o| (o.ods_code, o.id))
        .collect();
    let mut unknown: std::collections::BTreeMap<String, usize> = Default::default();
    for p in parsed
        .practices
        .iter()
        .filter(|p| !icbs.contains_key(&p.icb_code))
    {
        *unknown.entry(p.icb_code.clone()).or_default() += 1;
    }
    if !unknown.is_empty() {
        let named: Vec<_> = unknown
            .iter()
            .map(|(code, n)| format!("{code} ({n} practices)"))
            .collect();
        return Err(invalid(
            "file",
            "unknown_icb",
            format!(
                "nothing imported: the file names ICBs aghub does not know: {}; add each with aghub org add --ods CODE --name NAME --kind icb",
                named.join(", ")
            ),
        ));
    }
    let mut report = ImportReport {
        skipped_not_active: parsed.not_active,
        skipped_not_gp: parsed.not_gp,
        ..Default::default()
    };
    let mut tx = db.begin().await?;
    let existing = orgs::practices_by_ods(&mut tx).await?;
    let mut touched = BTreeSet::new();
    for p in &parsed.practices {
        let icb_id = icbs.get(&p.icb_code).map(String::as_str);
        let postcode = Some(p.postcode.as_str()).filter(|s| !s.is_empty());
        match existing.get(&p.ods_code) {
            None => {
                let id =
                    orgs::insert_practice(&mut tx, &p.ods_code, &p.name, icb_id, postcode, now_ms)
                        .await?;
                touched.insert(id);
                report.added += 1;
            }
            Some(have)
                if have.name == p.name
                    && have.icb_id.as_deref() == icb_id
                    && have.postcode.as_deref() == postcode =>
            {
                report.unchanged += 1;
            }
            Some(have) => {
                orgs::update_practice(&mut tx, &have.id, &p.name, icb_id, postcode, now_ms).await?;
                if let (None, Some(icb)) = (&have.icb_id, icb_id) {
                    super::case_facts::practice_joined_icb(&mut tx, &have.id, icb).await?;
                }
                touched.insert(have.id.clone());
                report.updated += 1;
            }
        }
    }
    record_change(
        &mut tx,
        actor,
        "practice.imported",
        "epraccur",
        json!({ "report": report }),
        now_ms,
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}

/// `aghub practice import --list-sizes FILE`: each practice's registered patients. Practices
/// aghub does not have are counted, not added (the epraccur import adds practices).
pub async fn import_list_sizes(
    db: &Db,
    actor: Actor<'_>,
    bytes: &[u8],
    now_ms: i64,
) -> ServiceResult<(usize, usize)> {
    let sizes = list_sizes::parse(bytes).map_err(|e| bad_lines(&e))?;
    let mut tx = db.begin().await?;
    let (mut set, mut unknown) = (0, 0);
    for (ods, patients) in &sizes {
        if orgs::set_list_size(&mut tx, ods, *patients).await? {
            set += 1;
        } else {
            unknown += 1;
        }
    }
    record_change(
        &mut tx,
        actor,
        "practice.list_sizes_imported",
        "list_sizes",
        json!({ "set": set, "not_in_aghub": unknown }),
        now_ms,
    )
    .await?;
    tx.commit().await?;
    Ok((set, unknown))
}

/// `aghub org targets`: an ICB's own response targets and escalation window for a specialty
/// (hours); cases submitted afterwards are measured against them, and open cases escalate by
/// the new window.
pub async fn set_targets(
    db: &Db,
    actor: Actor<'_>,
    icb: &str,
    specialty: &str,
    hours: (f64, f64, f64),
    now_ms: i64,
) -> ServiceResult<()> {
    let icb = icb_by_ods(db, icb).await?;
    super::accounts::check_specialty(db, specialty).await?;
    let ms = |h: f64| (h * 3_600_000.0).round() as i64;
    let (routine, urgent, escalation) = hours;
    if !(routine > 0.0 && urgent > 0.0 && escalation >= 0.0 && routine <= 24.0 * 90.0) {
        return Err(invalid(
            "targets",
            "invalid_targets",
            "targets must be more than 0 hours (at most 90 days), the escalation window 0 or more",
        ));
    }
    let targets = orgs::Targets {
        routine_ms: ms(routine),
        urgent_ms: ms(urgent),
        escalation_ms: ms(escalation),
    };
    let mut tx = db.begin().await?;
    orgs::set_targets(&mut tx, &icb.id, specialty, targets).await?;
    record_change(
        &mut tx,
        actor,
        "icb.targets_set",
        &icb.id,
        json!({ "icb": icb.ods_code, "specialty": specialty, "routine_ms": targets.routine_ms, "urgent_ms": targets.urgent_ms, "escalation_ms": targets.escalation_ms }),
        now_ms,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
