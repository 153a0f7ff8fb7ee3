//! The tenant's scoring model; a tenant without a row scores with the defaults.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use super::{StoredModel, Tx};
use crate::domain::scoring::KindRule;
use crate::domain::{Kind, ScoringModel, Thresholds, Viewer};
use crate::error::{Error, Result};

/// One rule as stored in `engagement_models.rules`.
#[derive(Serialize, Deserialize)]
struct StoredRule {
    kind: String,
    points: f64,
    daily_cap: u32,
}

#[derive(sqlx::FromRow)]
struct ModelRow {
    half_life_secs: f64,
    rules: Json<Vec<StoredRule>>,
    engaged_enter: f64,
    engaged_exit: f64,
    disengaged_enter: f64,
    disengaged_exit: f64,
    updated_at: DateTime<Utc>,
}

pub async fn load(tx: &mut Tx) -> Result<StoredModel> {
    let row: Option<ModelRow> = sqlx::query_as(
        "SELECT half_life_secs, rules, engaged_enter, engaged_exit, disengaged_enter,
                disengaged_exit, updated_at
         FROM engagement_models",
    )
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(StoredModel {
            model: ScoringModel::default(),
            updated_at: None,
        });
    };
    let mut rules = BTreeMap::new();
    for rule in row.rules.0 {
        let kind = Kind::from_key(&rule.kind)
            .map_err(|_| Error::Internal(format!("stored kind {:?}", rule.kind)))?;
        rules.insert(
            kind,
            KindRule {
                points: rule.points,
                daily_cap: rule.daily_cap,
            },
        );
    }
    Ok(StoredModel {
        model: ScoringModel {
            half_life_secs: row.half_life_secs,
            rules,
            thresholds: Thresholds {
                engaged_enter: row.engaged_enter,
                engaged_exit: row.engaged_exit,
                disengaged_enter: row.disengaged_enter,
                disengaged_exit: row.disengaged_exit,
            },
        },
        updated_at: Some(row.updated_at),
    })
}

pub async fn save(
    tx: &mut Tx,
    viewer: Viewer,
    model: &ScoringModel,
    at: DateTime<Utc>,
) -> Result<StoredModel> {
    let rules: Vec<StoredRule> = model
        .rules
        .iter()
        .map(|(kind, rule)| StoredRule {
            kind: kind.key(),
            points: rule.points,
            daily_cap: rule.daily_cap,
        })
        .collect();
    let t = model.thresholds;
    sqlx::query(
        "INSERT INTO engagement_models (tenant_id, half_life_secs, rules, engaged_enter,
             engaged_exit, disengaged_enter, disengaged_exit, updated_by, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (tenant_id) DO UPDATE SET
             half_life_secs = EXCLUDED.half_life_secs,
             rules = EXCLUDED.rules,
             engaged_enter = EXCLUDED.engaged_enter,
             engaged_exit = EXCLUDED.engaged_exit,
             disengaged_enter = EXCLUDED.disengaged_enter,
             disengaged_exit = EXCLUDED.disengaged_exit,
             updated_by = EXCLUDED.updated_by,
             updated_at = EXCLUDED.updated_at",
    )
    .bind(viewer.tenant_id)
    .bind(model.half_life_secs)
    .bind(Json(rules))
    .bind(t.engaged_enter)
    .bind(t.engaged_exit)
    .bind(t.disengaged_enter)
    .bind(t.disengaged_exit)
    .bind(viewer.user_id)
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(StoredModel {
        model: model.clone(),
        updated_at: Some(at),
    })
}
