//! The one HTTP client for the services nomhub asks itself (Open-Meteo's forecast,
//! EnergyZero's prices): a blocking ureq GET run off the async threads, with a timeout
//! and a limit on the answer's size.

use std::time::Duration;

/// Answers larger than this are refused.
const LIMIT: u64 = 4 * 1024 * 1024;

/// An answer: its status and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// GETs `url` (asking for JSON) within `timeout`; the error says why in words.
pub async fn get(url: &str, timeout: Duration) -> Result<Answer, String> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || blocking_get(&url, timeout))
        .await
        .unwrap_or_else(|e| Err(e.to_string()))
}

fn blocking_get(url: &str, timeout: Duration) -> Result<Answer, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let mut answer = agent
        .get(url)
        .header("Accept", "application/json")
        .call()
        .map_err(|e| e.to_string())?;
    let status = answer.status().as_u16();
    let body = answer
        .body_mut()
        .with_config()
        .limit(LIMIT)
        .read_to_string()
        .map_err(|e| e.to_string())?;
    Ok(Answer { status, body })
}
