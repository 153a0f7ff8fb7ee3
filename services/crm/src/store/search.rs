//! Full-text search with a trigram fallback, over every record type the query covers, limited to
//! the records the viewer reaches (the same scopes as the List RPCs).
//!
//! Each record type contributes the rows whose `search_document` matches the web-search query, or
//! whose name is close to it (`word_similarity`, through the trigram index). Exact matches rank
//! before fuzzy ones; within each group by `ts_rank` plus similarity. The snippet is computed
//! only for the page served.

use async_trait::async_trait;
use sqlx::{Postgres, QueryBuilder, Row};

use super::{PgStore, push_scope, record_scope};
use crate::domain::search::{FUZZY_THRESHOLD, Hit, Hits, SearchQuery};
use crate::domain::visibility::{Access, RecordKind, Viewer};
use crate::error::{Error, Result};

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait SearchStore: Send + Sync + 'static {
    async fn search(&self, viewer: Viewer, query: SearchQuery) -> Result<Hits>;
}

/// What one record type contributes: trusted SQL fragments over alias `r`.
struct Source {
    kind: RecordKind,
    name: &'static str,
    table: &'static str,
    /// Displayed name; for fuzzy matching, the same expression as its trigram index.
    title: &'static str,
    fuzzy: &'static str,
    /// Text the snippet is cut from.
    body: &'static str,
}

const SOURCES: [Source; 4] = [
    Source {
        kind: RecordKind::Account,
        name: "account",
        table: "accounts",
        title: "r.name",
        fuzzy: "r.name",
        body: "r.name || ' ' || r.domain || ' ' || r.industry",
    },
    Source {
        kind: RecordKind::Contact,
        name: "contact",
        table: "contacts",
        title: "btrim(r.first_name || ' ' || r.last_name)",
        fuzzy: "(r.first_name || ' ' || r.last_name)",
        body: "r.first_name || ' ' || r.last_name || ' ' || search_join(r.emails) || ' ' || r.title",
    },
    Source {
        kind: RecordKind::Lead,
        name: "lead",
        table: "leads",
        title: "btrim(r.first_name || ' ' || r.last_name)",
        fuzzy: "(r.first_name || ' ' || r.last_name || ' ' || r.company)",
        body: "r.first_name || ' ' || r.last_name || ' ' || r.company || ' ' || r.email || ' ' || r.title",
    },
    Source {
        kind: RecordKind::Opportunity,
        name: "opportunity",
        table: "opportunities",
        title: "r.name",
        fuzzy: "r.name",
        body: "r.name || ' ' || r.lost_reason",
    },
];

fn source(kind: RecordKind) -> &'static Source {
    match kind {
        RecordKind::Account => &SOURCES[0],
        RecordKind::Contact => &SOURCES[1],
        RecordKind::Lead => &SOURCES[2],
        RecordKind::Opportunity => &SOURCES[3],
    }
}

fn kind_named(name: &str) -> Result<RecordKind> {
    SOURCES
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.kind)
        .ok_or_else(|| Error::Internal(format!("unknown search record type {name}")))
}

fn push_tsquery(qb: &mut QueryBuilder<Postgres>, text: &str) {
    qb.push("websearch_to_tsquery('simple', ");
    qb.push_bind(text.to_owned());
    qb.push(")");
}

#[async_trait]
impl SearchStore for PgStore {
    #[tracing::instrument(name = "crm.postgres.search", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "search", tenant_id = %viewer.tenant_id))]
    async fn search(&self, viewer: Viewer, query: SearchQuery) -> Result<Hits> {
        let mut tx = self.tx(viewer).await?;
        // Local to the transaction; lets `<%` use the trigram indexes at our threshold.
        sqlx::query("SELECT set_config('pg_trgm.word_similarity_threshold', $1, true)")
            .bind(FUZZY_THRESHOLD.to_string())
            .execute(&mut *tx)
            .await?;

        let text = query.text.as_str();
        let mut qb =
            QueryBuilder::<Postgres>::new("SELECT kind, id, title, ts_headline('simple', body, ");
        push_tsquery(&mut qb, text);
        qb.push(", 'MaxWords=20, MinWords=5, MaxFragments=1') AS snippet, score FROM (");
        for (i, kind) in query.kinds.iter().enumerate() {
            let s = source(*kind);
            let read = record_scope(&mut tx, viewer, *kind, Access::Read).await?;
            if i > 0 {
                qb.push(" UNION ALL ");
            }
            qb.push(format_args!(
                "SELECT '{}' AS kind, r.id, {} AS title, {} AS body, r.search_document @@ ",
                s.name, s.title, s.body
            ));
            push_tsquery(&mut qb, text);
            qb.push(" AS exact, ts_rank(r.search_document, ");
            push_tsquery(&mut qb, text);
            qb.push(")::float8 + public.word_similarity(");
            qb.push_bind(text.to_owned());
            qb.push(format_args!(
                ", {})::float8 AS score FROM {} r WHERE r.deleted_at IS NULL AND (r.search_document @@ ",
                s.fuzzy, s.table
            ));
            push_tsquery(&mut qb, text);
            qb.push(" OR ");
            qb.push_bind(text.to_owned());
            qb.push(format_args!(" OPERATOR(public.<%) {})", s.fuzzy));
            push_scope(&mut qb, "r.owner_id", "r.id", &read);
        }
        qb.push(" ORDER BY exact DESC, score DESC, kind, id LIMIT ");
        qb.push_bind(i64::from(query.limit) + 1);
        qb.push(" OFFSET ");
        qb.push_bind(i64::from(query.offset));
        qb.push(") hits ORDER BY exact DESC, score DESC, kind, id");

        let rows = qb.build().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        let more = rows.len() > query.limit as usize;
        let hits = rows
            .iter()
            .take(query.limit as usize)
            .map(|row| {
                let kind: String = row.try_get("kind")?;
                Ok(Hit {
                    kind: kind_named(&kind)?,
                    id: row.try_get("id")?,
                    title: row.try_get("title")?,
                    snippet: row.try_get("snippet")?,
                    score: row.try_get("score")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Hits { hits, more })
    }
}
