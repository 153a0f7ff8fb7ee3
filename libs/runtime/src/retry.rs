//! Start-up steps that wait for a dependency instead of exiting: a service whose database is
//! not there yet (a restart of Postgres, pods started before it) keeps retrying, not ready,
//! instead of crash-looping through Kubernetes' growing restart delay.

use std::future::Future;
use std::time::Duration;

/// First wait after a failed attempt; doubles up to [`MAX_DELAY`].
const FIRST_DELAY: Duration = Duration::from_millis(250);
/// Longest wait between attempts: bounds how long start-up lags once the dependency is back.
const MAX_DELAY: Duration = Duration::from_secs(5);

/// Runs `attempt` until it succeeds or fails with an error `transient` rejects (a bad setting,
/// a failing migration: retrying cannot help, so it is returned at once). Transient failures
/// are logged and retried with exponential backoff.
pub async fn until_ok<T, E, F, Fut>(
    what: &str,
    transient: impl Fn(&E) -> bool,
    mut attempt: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let mut delay = FIRST_DELAY;
    let mut attempts = 1u32;
    loop {
        match attempt().await {
            Ok(value) => {
                if attempts > 1 {
                    tracing::info!(step = what, attempts, "start-up step succeeded");
                }
                return Ok(value);
            }
            Err(error) if transient(&error) => {
                tracing::warn!(
                    step = what, %error, attempts, retry_in_ms = delay.as_millis(),
                    "start-up step failed, retrying"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_DELAY);
                attempts = attempts.saturating_add(1);
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_and_others_returned() {
        let mut calls = 0;
        let result: Result<u32, String> = until_ok(
            "test",
            |e: &String| e == "down",
            || {
                calls += 1;
                let outcome = if calls < 4 {
                    Err("down".to_owned())
                } else {
                    Ok(calls)
                };
                async move { outcome }
            },
        )
        .await;
        assert_eq!(result, Ok(4));

        let mut calls = 0;
        let result: Result<(), String> = until_ok(
            "test",
            |e: &String| e == "down",
            || {
                calls += 1;
                async { Err("bad migration".to_owned()) }
            },
        )
        .await;
        assert_eq!(result, Err("bad migration".to_owned()));
        assert_eq!(calls, 1, "a permanent failure is not retried");
    }
}
