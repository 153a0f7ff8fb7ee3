//! The tenant's scoring model: defaults, validation, and re-scoring on change.

use chrono::Utc;
use proto::engagement as pb;
use tonic::Code;

use crate::helpers::{Db, bad_fields, on_contact, team};

#[tokio::test]
async fn changing_the_model_rescores_the_tenant() {
    let service = engagement::testing::spawn().await;
    let db = Db::connect(&service).await;
    let team = team(&service, &db).await;
    let contact = db
        .project_record(team.tenant_id, "contact", team.rep.user_id, None)
        .await;
    team.rep
        .record(vec![on_contact(
            "m",
            pb::EngagementKind::Meeting,
            contact,
            Utc::now(),
        )])
        .await
        .expect("recorded");
    let defaults = team
        .admin
        .api()
        .get_scoring_model(team.admin.req(pb::GetScoringModelRequest {}))
        .await
        .expect("model")
        .into_inner();
    assert_eq!(defaults.half_life_days, 14.0);
    assert!(defaults.update_time.is_none());

    let mut model = defaults.clone();
    for rule in &mut model.rules {
        if rule.kind == pb::EngagementKind::Meeting as i32 {
            rule.points = 50.0;
        }
    }
    let updated = team
        .admin
        .api()
        .update_scoring_model(team.admin.req(pb::UpdateScoringModelRequest {
            scoring_model: Some(model.clone()),
        }))
        .await
        .expect("updated")
        .into_inner();
    assert!(updated.update_time.is_some());
    let score = team.rep.contact(contact).await.expect("score");
    assert!(
        score.score > 49.99 && score.score <= 50.0,
        "{}",
        score.score
    );

    let bad = pb::ScoringModel {
        half_life_days: 0.0,
        ..model.clone()
    };
    let refused = team
        .admin
        .api()
        .update_scoring_model(team.admin.req(pb::UpdateScoringModelRequest {
            scoring_model: Some(bad),
        }))
        .await
        .expect_err("refused");
    assert_eq!(bad_fields(&refused), ["scoring_model.half_life_days"]);

    let mut negative = model.clone();
    negative.rules[0].points = -1.0;
    let refused = team
        .admin
        .api()
        .update_scoring_model(team.admin.req(pb::UpdateScoringModelRequest {
            scoring_model: Some(negative),
        }))
        .await
        .expect_err("refused");
    assert_eq!(bad_fields(&refused), ["scoring_model.rules[0].points"]);

    let denied = team
        .rep
        .api()
        .update_scoring_model(team.rep.req(pb::UpdateScoringModelRequest {
            scoring_model: Some(model),
        }))
        .await
        .expect_err("refused");
    assert_eq!(denied.code(), Code::PermissionDenied);
}
