//! # lead-score: an example Gust step
//!
//! Scores a lead from its Salesforce fields and grades it A, B or C, keeping
//! a count of the leads it has scored in the step's state.
//!
//! Build and run it with the example workflow:
//!
//! ```not_rust
//! cargo build -p lead-score --target wasm32-wasip2 --profile guest
//! cargo run -p gust-engine -- run examples/workflows/score-lead.json --event examples/events/web-lead.json
//! ```
//!
//! Input: `{"lead": {"Email": ..., "Company": ..., "Title": ...,
//! "NumberOfEmployees": ..., "LeadSource": ...}}`. With `"write_back": true`
//! and the lead's Id (`"lead_id"`, or the lead's `"Id"`), it also writes the
//! rating (Hot for an A, Warm for a B, Cold for a C) to the lead's `Rating`
//! in Salesforce (the workflow must grant `"write": ["Lead"]`).

use gust_sdk::{Error, Value, info, json, salesforce, state};

/// Free mail providers: a lead writing from one is less likely a buyer.
const FREE_MAIL: &[&str] = &[
    "gmail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "icloud.com",
];
/// Words in a title that mark a decision maker.
const SENIOR_TITLES: &[&str] = &["chief", "vp", "president", "head", "director", "cto", "ceo"];

/// A lead's score, its grade and why.
#[derive(Debug, PartialEq, Eq)]
pub struct Score {
    /// 0 to 100.
    pub points: u32,
    /// A (70 and up), B (40 and up) or C.
    pub grade: char,
    /// What earned the points.
    pub reasons: Vec<&'static str>,
}

/// Scores a lead from its fields.
pub fn score(lead: &Value) -> Score {
    let text = |field: &str| lead[field].as_str().unwrap_or_default().to_lowercase();
    let mut points = 0;
    let mut reasons = Vec::new();
    let mut add = |earned: u32, reason: &'static str| {
        points += earned;
        reasons.push(reason);
    };
    let email = text("Email");
    if let Some((_, domain)) = email.split_once('@')
        && !FREE_MAIL.contains(&domain)
    {
        add(30, "business email");
    }
    if !text("Company").is_empty() {
        add(10, "company given");
    }
    let title = text("Title");
    let mut title_words = title.split(|c: char| !c.is_alphanumeric());
    if title_words.any(|word| SENIOR_TITLES.contains(&word)) {
        add(25, "decision maker");
    } else if title.contains("manager") {
        add(10, "manager");
    }
    match lead["NumberOfEmployees"].as_u64().unwrap_or(0) {
        1000.. => add(25, "1000+ employees"),
        100.. => add(15, "100+ employees"),
        10.. => add(5, "10+ employees"),
        _ => {}
    }
    if text("LeadSource") == "web" {
        add(10, "came from the web");
    }
    let grade = match points {
        70.. => 'A',
        40.. => 'B',
        _ => 'C',
    };
    Score {
        points,
        grade,
        reasons,
    }
}

fn run(input: Value) -> Result<Value, Error> {
    let lead = &input["lead"];
    if !lead.is_object() {
        return Err(Error::non_retryable("the input has no `lead` object"));
    }
    let Score {
        points,
        grade,
        reasons,
    } = score(lead);
    info!("Scored {} at {points} ({grade}).", lead["Email"]);
    let rating = match grade {
        'A' => "Hot",
        'B' => "Warm",
        _ => "Cold",
    };
    if input["write_back"].as_bool() == Some(true) {
        let id = input["lead_id"]
            .as_str()
            .or_else(|| lead["Id"].as_str())
            .ok_or_else(|| {
                Error::non_retryable("`write_back` needs `lead_id` or the lead's `Id`")
            })?;
        salesforce::update("Lead", id, &json!({ "Rating": rating }))?;
        info!("Wrote Rating {rating} to Lead {id}.");
    }
    let scored = state::get("scored")?.and_then(|v| v.as_u64()).unwrap_or(0) + 1;
    state::set("scored", &json!(scored))?;
    Ok(json!({
        "email": lead["Email"],
        "score": points,
        "grade": grade.to_string(),
        "rating": rating,
        "reasons": reasons,
        "leads_scored": scored,
    }))
}

gust_sdk::step!(run);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_senior_buyer_at_a_large_company_is_an_a() {
        let lead = json!({
            "Email": "ada@acme.com", "Company": "Acme", "Title": "VP Engineering",
            "NumberOfEmployees": 2500, "LeadSource": "Web"
        });
        assert_eq!(
            score(&lead),
            Score {
                points: 100,
                grade: 'A',
                reasons: vec![
                    "business email",
                    "company given",
                    "decision maker",
                    "1000+ employees",
                    "came from the web"
                ],
            }
        );
    }

    #[test]
    fn a_free_mail_lead_without_details_is_a_c() {
        let lead = json!({ "Email": "someone@gmail.com", "Title": "Student" });
        assert_eq!(score(&lead).grade, 'C');
        assert_eq!(score(&lead).points, 0);
    }

    #[test]
    fn title_words_match_whole_words_only() {
        let lead = json!({ "Title": "Headhunter" });
        assert!(!score(&lead).reasons.contains(&"decision maker"));
    }
}
