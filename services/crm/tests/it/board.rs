//! The kanban board and the forecast: sums, weighted sums, per-stage paging, forecast categories
//! and what each role sees.

use chrono::{Duration, Utc};
use crm::testing::TestCrm;
use proto::crm as pb;
use proto::google::r#type::Money;
use tonic::transport::Channel;

use crate::helpers::{As, Db, assert_invalid, team, usd};
use crate::quotes::money;

type Boards = pb::board_service_client::BoardServiceClient<Channel>;

async fn boards(crm: &TestCrm) -> Boards {
    Boards::new(crm.channel().await)
}

async fn deal(
    who: &As,
    stage: &pb::Stage,
    amount: Option<Money>,
    close_date: chrono::NaiveDate,
) -> pb::Opportunity {
    who.opportunities()
        .create_opportunity(who.req(pb::CreateOpportunityRequest {
            opportunity: Some(pb::Opportunity {
                name: format!("Deal in {}", stage.name),
                amount,
                stage_id: stage.id.clone(),
                close_date: close_date.format("%Y-%m-%d").to_string(),
                ..Default::default()
            }),
        }))
        .await
        .expect("opportunity created")
        .into_inner()
}

async fn move_to(who: &As, deal: &pb::Opportunity, stage: &pb::Stage, reason: &str) {
    who.opportunities()
        .move_stage(who.req(pb::MoveStageRequest {
            id: deal.id.clone(),
            stage_id: stage.id.clone(),
            lost_reason: reason.to_owned(),
        }))
        .await
        .expect("moved");
}

async fn board(crm: &TestCrm, who: &As, pipeline: &pb::Pipeline, page_size: i32) -> pb::Board {
    boards(crm)
        .await
        .get_board(who.req(pb::GetBoardRequest {
            pipeline_id: pipeline.id.clone(),
            page_size,
        }))
        .await
        .expect("board")
        .into_inner()
}

/// (currency, count, amount, weighted amount) per currency.
fn totals(column: &pb::BoardColumn) -> Vec<(String, i64, Money, Money)> {
    column
        .totals
        .iter()
        .map(|t| {
            (
                t.currency_code.clone(),
                t.count,
                t.amount.clone().expect("amount"),
                t.weighted_amount.clone().expect("weighted"),
            )
        })
        .collect()
}

fn day(offset: i64) -> chrono::NaiveDate {
    Utc::now().date_naive() + Duration::days(offset)
}

#[tokio::test]
async fn the_board_sums_weighs_and_pages_each_stage() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let rep = &team.rep;
    let pipeline = rep.default_pipeline().await;
    let (prospecting, proposal) = (&pipeline.stages[0], &pipeline.stages[2]);
    let first = deal(
        rep,
        prospecting,
        Some(money("USD", 100, 10_000_000)),
        day(30),
    )
    .await;
    let second = deal(rep, prospecting, Some(usd(200)), day(31)).await;
    let third = deal(rep, prospecting, Some(money("USD", 0, 50_000_000)), day(32)).await;
    deal(rep, proposal, Some(money("EUR", 1_000, 0)), day(30)).await;
    deal(rep, proposal, None, day(30)).await;
    deal(&team.other_rep, prospecting, Some(usd(999)), day(30)).await;

    let mine = board(&crm, rep, &pipeline, 2).await;
    assert_eq!(mine.columns.len(), pipeline.stages.len());
    let names: Vec<&str> = mine
        .columns
        .iter()
        .map(|c| c.stage.as_ref().expect("stage").name.as_str())
        .collect();
    assert_eq!(names[0], "Prospecting");
    let column = &mine.columns[0];
    assert_eq!(column.count, 3);
    // 100.01 + 200.00 + 0.05 = 300.06; at 10 %: 30.006 -> 30.01 (half up, once).
    assert_eq!(
        totals(column),
        [(
            "USD".to_owned(),
            3,
            money("USD", 300, 60_000_000),
            money("USD", 30, 10_000_000)
        )]
    );
    let ids: Vec<&str> = column.opportunities.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, [first.id.as_str(), second.id.as_str()]);
    assert!(!column.next_page_token.is_empty());
    // A deal without an amount counts but adds to no currency.
    assert_eq!(mine.columns[2].count, 2);
    assert_eq!(
        totals(&mine.columns[2]),
        [(
            "EUR".to_owned(),
            1,
            money("EUR", 1_000, 0),
            money("EUR", 500, 0)
        )]
    );
    assert_eq!(mine.columns[1].count, 0);
    assert!(mine.columns[1].totals.is_empty());

    let mut client = boards(&crm).await;
    let rest = client
        .list_board_stage_opportunities(rep.req(pb::ListBoardStageOpportunitiesRequest {
            pipeline_id: pipeline.id.clone(),
            stage_id: prospecting.id.clone(),
            page_size: 2,
            page_token: column.next_page_token.clone(),
        }))
        .await
        .expect("next page")
        .into_inner();
    let ids: Vec<&str> = rest.opportunities.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, [third.id.as_str()]);
    assert!(rest.next_page_token.is_empty());
    let wrong_stage = client
        .list_board_stage_opportunities(rep.req(pb::ListBoardStageOpportunitiesRequest {
            pipeline_id: pipeline.id.clone(),
            stage_id: proposal.id.clone(),
            page_size: 2,
            page_token: column.next_page_token.clone(),
        }))
        .await
        .expect_err("a token continues only its own stage");
    assert_invalid(&wrong_stage, &["page_token"]);

    // The admin sees the other rep's deal too: 1299.06, weighted 129.906 -> 129.91.
    let all = board(&crm, &team.admin, &pipeline, 10).await;
    assert_eq!(all.columns[0].count, 4);
    assert_eq!(
        totals(&all.columns[0]),
        [(
            "USD".to_owned(),
            4,
            money("USD", 1_299, 60_000_000),
            money("USD", 129, 910_000_000)
        )]
    );
}

#[tokio::test]
async fn board_and_forecast_show_each_role_its_own_deals() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let pipeline = team.admin.default_pipeline().await;
    let negotiation = &pipeline.stages[3];
    deal(&team.rep, negotiation, Some(usd(100)), day(5)).await;
    deal(&team.manager, negotiation, Some(usd(20)), day(5)).await;
    deal(&team.other_rep, negotiation, Some(usd(3)), day(5)).await;

    let mut client = boards(&crm).await;
    for (who, count, sum) in [
        (&team.rep, 1, 100),
        (&team.manager, 2, 120),
        (&team.admin, 3, 123),
        (&team.other_rep, 1, 3),
    ] {
        let column = &board(&crm, who, &pipeline, 10).await.columns[3];
        assert_eq!(column.count, count);
        assert_eq!(column.opportunities.len(), count as usize);
        assert_eq!(column.totals[0].amount, Some(usd(sum)));
        let forecast = client
            .get_forecast(who.req(pb::GetForecastRequest {
                start_date: day(0).to_string(),
                end_date: day(10).to_string(),
                ..Default::default()
            }))
            .await
            .expect("forecast")
            .into_inner();
        assert_eq!(forecast.lines.len(), 1);
        let total = forecast.lines[0].total.as_ref().expect("total");
        assert_eq!((total.count, total.amount.clone()), (count, Some(usd(sum))));
    }
    let support = client
        .get_board(team.support.req(pb::GetBoardRequest {
            pipeline_id: pipeline.id.clone(),
            page_size: 0,
        }))
        .await
        .expect_err("support does not read deals");
    assert_eq!(support.code(), tonic::Code::PermissionDenied);
}

/// (category, currency, count, amount units, weighted units and nanos).
type Line = (i32, String, i64, i64, (i64, i32));

fn lines(forecast: &pb::Forecast) -> Vec<Line> {
    forecast
        .lines
        .iter()
        .map(|l| {
            let t = l.total.as_ref().expect("total");
            let amount = t.amount.as_ref().expect("amount");
            let weighted = t.weighted_amount.as_ref().expect("weighted");
            (
                l.category,
                t.currency_code.clone(),
                t.count,
                amount.units,
                (weighted.units, weighted.nanos),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_forecast_puts_each_deal_in_one_category_by_stage() {
    use pb::ForecastCategory::{BestCase, Closed, Commit, Pipeline};
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let pipeline = team.admin.default_pipeline().await;
    let s = &pipeline.stages;
    let (prospecting, qualification, proposal, negotiation, won, lost) =
        (&s[0], &s[1], &s[2], &s[3], &s[4], &s[5]);
    let rep = &team.rep;
    deal(rep, prospecting, Some(usd(100)), day(10)).await;
    deal(rep, qualification, Some(usd(40)), day(10)).await;
    deal(rep, proposal, Some(usd(200)), day(20)).await;
    deal(rep, negotiation, Some(usd(300)), day(30)).await;
    deal(rep, qualification, Some(usd(400)), day(100)).await; // after the period
    let closed = deal(rep, prospecting, Some(usd(500)), day(40)).await;
    move_to(rep, &closed, won, "").await; // closes today
    let dropped = deal(rep, prospecting, Some(usd(600)), day(10)).await;
    move_to(rep, &dropped, lost, "budget cut").await;
    deal(&team.manager, prospecting, Some(usd(50)), day(10)).await;
    deal(&team.other_rep, negotiation, Some(usd(1_000)), day(10)).await;

    let mut client = boards(&crm).await;
    let mut forecast = async |who: &As, owner_id: String, team_manager_id: String| {
        client
            .get_forecast(who.req(pb::GetForecastRequest {
                start_date: day(-1).to_string(),
                end_date: day(60).to_string(),
                owner_id,
                team_manager_id,
                pipeline_id: pipeline.id.clone(),
                ..Default::default()
            }))
            .await
            .expect("forecast")
            .into_inner()
    };
    let usd_line = |category: pb::ForecastCategory, count, units, weighted: (i64, i32)| {
        (category as i32, "USD".to_owned(), count, units, weighted)
    };
    // 10 % of 100 + 25 % of 40 = 20; 50 % of 200; 75 % of 300 = 225; won at 100 %.
    let reps_own = vec![
        usd_line(Pipeline, 2, 140, (20, 0)),
        usd_line(BestCase, 1, 200, (100, 0)),
        usd_line(Commit, 1, 300, (225, 0)),
        usd_line(Closed, 1, 500, (500, 0)),
    ];
    assert_eq!(
        lines(&forecast(rep, String::new(), String::new()).await),
        reps_own
    );
    // Asking for a wider team never shows a rep more than their own deals.
    let admin_id = team.admin.user_id.to_string();
    assert_eq!(
        lines(&forecast(rep, String::new(), admin_id.clone()).await),
        reps_own
    );
    let other = team.other_rep.user_id.to_string();
    assert!(
        lines(&forecast(rep, other.clone(), String::new()).await).is_empty(),
        "another rep's deals stay hidden"
    );

    // The manager's team is the manager and the rep, not the other rep.
    let manager_id = team.manager.user_id.to_string();
    let team_view = lines(&forecast(&team.admin, String::new(), manager_id).await);
    assert_eq!(team_view[0], usd_line(Pipeline, 3, 190, (25, 0)));
    assert_eq!(team_view[2], usd_line(Commit, 1, 300, (225, 0)));
    let admin_view = lines(&forecast(&team.admin, String::new(), String::new()).await);
    assert_eq!(admin_view[2], usd_line(Commit, 2, 1_300, (975, 0)));
    let one_owner = lines(&forecast(&team.admin, other, String::new()).await);
    assert_eq!(one_owner, [usd_line(Commit, 1, 1_000, (750, 0))]);
}
