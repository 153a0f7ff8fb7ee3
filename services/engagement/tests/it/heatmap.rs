//! Heatmaps: touch counts by ISO weekday and hour in the tenant's time zone.

use chrono::{TimeZone, Utc};
use proto::engagement as pb;

use crate::helpers::{Db, bad_fields, on_contact, team, ts};

#[tokio::test]
async fn cells_fall_on_the_weekday_and_hour_of_the_tenants_time_zone() {
    let service = engagement::testing::spawn().await;
    let db = Db::connect(&service).await;
    let team = team(&service, &db).await;
    db.set_time_zone(team.tenant_id, "America/New_York").await;
    let contact = db
        .project_record(team.tenant_id, "contact", team.rep.user_id, None)
        .await;
    // Thursday 2026-12-03 02:30 UTC is Wednesday 21:30 in New York (UTC-5).
    let at = Utc
        .with_ymd_and_hms(2026, 12, 3, 2, 30, 0)
        .single()
        .expect("time");
    let touches = (0..3)
        .map(|i| on_contact(&format!("h-{i}"), pb::EngagementKind::WebVisit, contact, at))
        .collect();
    team.rep.record(touches).await.expect("recorded");
    let request = |start, end| pb::GetEngagementHeatmapRequest {
        start_time: Some(ts(start)),
        end_time: Some(ts(end)),
        ..Default::default()
    };
    let start = Utc
        .with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
        .single()
        .expect("time");
    let end = Utc
        .with_ymd_and_hms(2026, 12, 31, 0, 0, 0)
        .single()
        .expect("time");
    let heatmap = team
        .rep
        .api()
        .get_engagement_heatmap(team.rep.req(request(start, end)))
        .await
        .expect("heatmap")
        .into_inner();
    assert_eq!(heatmap.time_zone, "America/New_York");
    assert_eq!(
        heatmap.cells,
        [pb::HeatmapCell {
            weekday: 3,
            hour: 21,
            count: 3
        }]
    );
    // Another rep's heatmap does not count the rep's records.
    let other = team
        .other_rep
        .api()
        .get_engagement_heatmap(team.other_rep.req(request(start, end)))
        .await
        .expect("heatmap")
        .into_inner();
    assert!(other.cells.is_empty());

    let too_long = Utc
        .with_ymd_and_hms(2028, 1, 1, 0, 0, 0)
        .single()
        .expect("time");
    let refused = team
        .rep
        .api()
        .get_engagement_heatmap(team.rep.req(request(start, too_long)))
        .await
        .expect_err("refused");
    assert_eq!(bad_fields(&refused), ["end_time"]);
}
