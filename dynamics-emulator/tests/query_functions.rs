//! Dataverse's query functions and `any`/`all` lambdas in `$filter`, one test per function.
//!
//! Function reference and syntax:
//! <https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/reference/queryfunctions>
//! (e.g. `Microsoft.Dynamics.CRM.LastXDays(PropertyName=@p1,PropertyValue=@p2)`,
//! `In(PropertyName=@p1,PropertyValues=@p2)&@p2=['value','value']`); lists in double quotes
//! and lambdas: <https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/filter-rows>.
//! Dates are evaluated in UTC (see the emulator README); the records below are placed away
//! from day boundaries, and expectations that depend on today's weekday or month say so.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Fixture, start};
use reqwest::{Method, StatusCode};
use serde_json::json;
use time::{Date, Duration, Month, OffsetDateTime, Time, Weekday};

const ALPHA: &str = "00000000-0000-4000-8000-00000000000a";
const BETA: &str = "00000000-0000-4000-8000-00000000000b";
const GAMMA: &str = "00000000-0000-4000-8000-00000000000c";

fn at(day: Date, hour: u8) -> String {
    utc(day
        .with_time(Time::from_hms(hour, 0, 1).unwrap())
        .assume_utc())
}

fn utc(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn today() -> Date {
    OffsetDateTime::now_utc().date()
}

fn days(n: i64) -> Date {
    today() + Duration::days(n)
}

/// The 15th of the month `months` away from this one.
fn mid_month(months: i32) -> Date {
    let t = today();
    let index = t.year() * 12 + i32::from(u8::from(t.month())) - 1 + months;
    let month = Month::try_from(u8::try_from(index.rem_euclid(12) + 1).unwrap()).unwrap();
    Date::from_calendar_date(index.div_euclid(12), month, 15).unwrap()
}

/// Accounts Alpha ← Beta ← Gamma ← Epsilon in a hierarchy (`parentaccountid`), with
/// `lastonholdtime` placed on whole days (`createdon` is the service's), Epsilon owned by the
/// caller; tasks on Alpha (one open) and Beta (closed), their `scheduledend` counted from now;
/// contacts with birthdates; projects with choices.
async fn seeded() -> (Fixture, String) {
    let f = start().await;
    let token = f.access_token().await;
    let me = f.call(Method::GET, "WhoAmI", &token).await.body["UserId"]
        .as_str()
        .unwrap()
        .to_owned();
    let now = OffsetDateTime::now_utc();
    let year = today().year();
    f.emulator
        .seed(&json!({
            "accounts": [
                {"accountid": ALPHA, "name": "Alpha", "numberofemployees": 5,
                 "lastonholdtime": at(today(), 0)},
                {"accountid": BETA, "name": "Beta", "numberofemployees": 50,
                 "lastonholdtime": at(days(-1), 12),
                 "parentaccountid@odata.bind": format!("/accounts({ALPHA})")},
                {"accountid": GAMMA, "name": "Gamma", "numberofemployees": 500,
                 "lastonholdtime": at(days(-8), 12),
                 "parentaccountid@odata.bind": format!("/accounts({BETA})")},
                {"name": "Delta", "lastonholdtime": at(days(-400), 12)},
                {"name": "Epsilon", "numberofemployees": 7, "lastonholdtime": "2000-01-01T12:00:00Z",
                 "parentaccountid@odata.bind": format!("/accounts({GAMMA})"),
                 "ownerid@odata.bind": format!("/systemusers({me})")},
                {"name": "Zeta", "numberofemployees": 60, "lastonholdtime": at(days(1), 12)},
            ],
            "tasks": [
                {"subject": "Call back", "statecode": 0, "scheduledend": utc(now - Duration::minutes(30)),
                 "regardingobjectid_account_task@odata.bind": format!("/accounts({ALPHA})")},
                {"subject": "Send offer", "statecode": 1, "scheduledend": utc(now - Duration::hours(3)),
                 "regardingobjectid_account_task@odata.bind": format!("/accounts({ALPHA})")},
                {"subject": "Visit", "statecode": 1, "scheduledend": utc(now - Duration::days(3)),
                 "regardingobjectid_account_task@odata.bind": format!("/accounts({BETA})")},
                {"subject": "Later", "scheduledend": utc(now + Duration::hours(2))},
                {"subject": "Soon", "scheduledend": utc(now + Duration::days(3))},
            ],
            "contacts": [
                {"lastname": "Now", "birthdate": today().to_string()},
                {"lastname": "LastMonth", "birthdate": mid_month(-1).to_string()},
                {"lastname": "NextMonth", "birthdate": mid_month(1).to_string()},
                {"lastname": "LastYear", "birthdate": format!("{}-07-01", year - 1)},
                {"lastname": "NextYear", "birthdate": format!("{}-07-01", year + 1)},
            ],
            "new_projects": [
                {"new_name": "P1", "new_tags": "1,3"},
                {"new_name": "P2", "new_tags": "2"},
                {"new_name": "P3"},
            ],
        }))
        .unwrap();
    (f, token)
}

/// The names (sorted) of the records of `set` that `filter` selects.
async fn names(f: &Fixture, token: &str, set: &str, name: &str, filter: &str) -> Vec<String> {
    let encoded: String = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect();
    let reply = f
        .call(
            Method::GET,
            &format!("{set}?$select={name}&$filter={encoded}&$orderby={name}"),
            token,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{filter}: {}", reply.body);
    reply.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[name].as_str().unwrap().to_owned())
        .collect()
}

/// `names` of accounts, contacts (by last name) or projects, as the filter's table needs.
async fn check(filter: &str, want: &[&str]) {
    let (f, token) = seeded().await;
    let (set, name) = if filter.contains("scheduledend") {
        ("tasks", "subject")
    } else if filter.contains("birthdate") {
        ("contacts", "lastname")
    } else if filter.contains("new_tags") {
        ("new_projects", "new_name")
    } else {
        ("accounts", "name")
    };
    let mut want: Vec<String> = want.iter().map(|s| (*s).to_owned()).collect();
    want.sort();
    assert_eq!(names(&f, &token, set, name, filter).await, want, "{filter}");
}

fn qf(function: &str, params: &str) -> String {
    format!("Microsoft.Dynamics.CRM.{function}(PropertyName='{params}")
}

macro_rules! cases {
    ($($test:ident: $filter:expr => $want:expr;)*) => {$(
        #[tokio::test]
        async fn $test() {
            let want: Vec<&str> = $want;
            check(&$filter, &want).await;
        }
    )*};
}

fn sunday() -> bool {
    today().weekday() == Weekday::Sunday
}

fn saturday() -> bool {
    today().weekday() == Weekday::Saturday
}

fn with(mut names: Vec<&'static str>, extra: &'static str, when: bool) -> Vec<&'static str> {
    if when {
        names.push(extra);
    }
    names
}

fn january() -> bool {
    today().month() == Month::January
}

fn december() -> bool {
    today().month() == Month::December
}

cases! {
    in_list: qf("In", "name',PropertyValues=[\"alpha\",\"Beta\",\"nobody\"])") => vec!["Alpha", "Beta"];
    in_list_single_quoted: qf("In", "numberofemployees',PropertyValues=['5','500'])") => vec!["Alpha", "Gamma"];
    in_guids: qf("In", &format!("accountid',PropertyValues=[\"{ALPHA}\",\"{GAMMA}\"])")) => vec!["Alpha", "Gamma"];
    not_in: qf("NotIn", "name',PropertyValues=[\"Alpha\",\"Beta\"])") => vec!["Delta", "Epsilon", "Gamma", "Zeta"];
    between: qf("Between", "numberofemployees',PropertyValues=[\"5\",\"50\"])") => vec!["Alpha", "Beta", "Epsilon"];
    not_between: qf("NotBetween", "numberofemployees',PropertyValues=[\"5\",\"50\"])") => vec!["Gamma", "Zeta"];
    today_: qf("Today", "lastonholdtime')") => vec!["Alpha"];
    yesterday: qf("Yesterday", "lastonholdtime')") => vec!["Beta"];
    tomorrow: qf("Tomorrow", "lastonholdtime')") => vec!["Zeta"];
    last_seven_days: qf("Last7Days", "lastonholdtime')") => vec!["Alpha", "Beta"];
    next_seven_days: qf("Next7Days", "lastonholdtime')") => vec!["Zeta"];
    last_x_hours: qf("LastXHours", "scheduledend',PropertyValue=4)") => vec!["Call back", "Send offer"];
    next_x_hours: qf("NextXHours", "scheduledend',PropertyValue=3)") => vec!["Later"];
    last_x_days: qf("LastXDays", "lastonholdtime',PropertyValue=10)") => vec!["Alpha", "Beta", "Gamma"];
    next_x_days: qf("NextXDays", "lastonholdtime',PropertyValue=1)") => vec!["Zeta"];
    last_x_weeks: qf("LastXWeeks", "lastonholdtime',PropertyValue=2)") => vec!["Alpha", "Beta", "Gamma"];
    next_x_weeks: qf("NextXWeeks", "scheduledend',PropertyValue=1)") => vec!["Later", "Soon"];
    last_x_months: qf("LastXMonths", "lastonholdtime',PropertyValue=2)") => vec!["Alpha", "Beta", "Gamma"];
    next_x_months: qf("NextXMonths", "lastonholdtime',PropertyValue=1)") => vec!["Zeta"];
    last_x_years: qf("LastXYears", "lastonholdtime',PropertyValue=2)") => vec!["Alpha", "Beta", "Delta", "Gamma"];
    next_x_years: qf("NextXYears", "lastonholdtime',PropertyValue=1)") => vec!["Zeta"];
    older_than_x_minutes: qf("OlderThanXMinutes", "scheduledend',PropertyValue=60)") => vec!["Send offer", "Visit"];
    older_than_x_hours: qf("OlderThanXHours", "scheduledend',PropertyValue=2)") => vec!["Send offer", "Visit"];
    older_than_x_days: qf("OlderThanXDays", "lastonholdtime',PropertyValue=7)") => vec!["Delta", "Epsilon", "Gamma"];
    older_than_x_weeks: qf("OlderThanXWeeks", "lastonholdtime',PropertyValue=1)") => vec!["Delta", "Epsilon", "Gamma"];
    older_than_x_months: qf("OlderThanXMonths", "lastonholdtime',PropertyValue=6)") => vec!["Delta", "Epsilon"];
    older_than_x_years: qf("OlderThanXYears", "lastonholdtime',PropertyValue=1)") => vec!["Delta", "Epsilon"];
    this_week: qf("ThisWeek", "lastonholdtime')") => with(with(vec!["Alpha"], "Beta", !sunday()), "Zeta", !saturday());
    last_week: qf("LastWeek", "lastonholdtime')") => if sunday() { vec!["Beta"] } else { vec!["Gamma"] };
    next_week: qf("NextWeek", "lastonholdtime')") => with(vec![], "Zeta", saturday());
    this_month: qf("ThisMonth", "birthdate')") => vec!["Now"];
    last_month: qf("LastMonth", "birthdate')") => vec!["LastMonth"];
    next_month: qf("NextMonth", "birthdate')") => vec!["NextMonth"];
    this_year: qf("ThisYear", "birthdate')") => with(with(vec!["Now"], "LastMonth", !january()), "NextMonth", !december());
    last_year: qf("LastYear", "birthdate')") => with(vec!["LastYear"], "LastMonth", january());
    next_year: qf("NextYear", "birthdate')") => with(vec!["NextYear"], "NextMonth", december());
    on: qf("On", &format!("lastonholdtime',PropertyValue='{}')", days(-8))) => vec!["Gamma"];
    on_or_after: qf("OnOrAfter", &format!("birthdate',PropertyValue='{}')", today())) => vec!["NextMonth", "NextYear", "Now"];
    on_or_before: qf("OnOrBefore", "lastonholdtime',PropertyValue='2000-01-01')") => vec!["Epsilon"];
    equal_user_id: qf("EqualUserId", "ownerid')") => vec!["Epsilon"];
    not_equal_user_id: qf("NotEqualUserId", "ownerid')") => vec!["Alpha", "Beta", "Delta", "Gamma", "Zeta"];
    equal_business_id: qf("EqualBusinessId", "owningbusinessunit')") => vec!["Alpha", "Beta", "Delta", "Epsilon", "Gamma", "Zeta"];
    not_equal_business_id: qf("NotEqualBusinessId", "owningbusinessunit')") => vec![];
    above: qf("Above", &format!("accountid',PropertyValue='{GAMMA}')")) => vec!["Alpha", "Beta"];
    above_or_equal: qf("AboveOrEqual", &format!("accountid',PropertyValue='{GAMMA}')")) => vec!["Alpha", "Beta", "Gamma"];
    under: qf("Under", &format!("accountid',PropertyValue='{ALPHA}')")) => vec!["Beta", "Epsilon", "Gamma"];
    under_or_equal: qf("UnderOrEqual", &format!("accountid',PropertyValue='{BETA}')")) => vec!["Beta", "Epsilon", "Gamma"];
    not_under: qf("NotUnder", &format!("accountid',PropertyValue='{BETA}')")) => vec!["Alpha", "Beta", "Delta", "Zeta"];
    contain_values: qf("ContainValues", "new_tags',PropertyValues=[\"2\",\"3\"])") => vec!["P1", "P2"];
    does_not_contain_values: qf("DoesNotContainValues", "new_tags',PropertyValues=[\"1\"])") => vec!["P2", "P3"];
    lambda_any: "Account_Tasks/any(t:t/statecode eq 0)" => vec!["Alpha"];
    lambda_any_function: "Account_Tasks/any(t:contains(t/subject,'CALL') and t/statecode eq 0)" => vec!["Alpha"];
    lambda_all: "Account_Tasks/all(t:t/statecode eq 1)" => vec!["Beta", "Delta", "Epsilon", "Gamma", "Zeta"];
    lambda_any_empty: "Account_Tasks/any()" => vec!["Alpha", "Beta"];
    lambda_with_functions: format!("not Account_Tasks/any(t:t/statecode eq 0) and {}", qf("UnderOrEqual", &format!("accountid',PropertyValue='{ALPHA}')"))) => vec!["Beta", "Epsilon", "Gamma"];
}

/// Parameter aliases, as the reference pages' syntax examples write them.
#[tokio::test]
async fn parameters_may_be_aliases() {
    let (f, token) = seeded().await;
    let reply = f
        .call(
            Method::GET,
            "accounts?$select=name&$filter=Microsoft.Dynamics.CRM.In(PropertyName=@p1,PropertyValues=@p2)&@p1='name'&@p2=['Alpha','Gamma']&$orderby=name",
            &token,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let got: Vec<&str> = reply.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["Alpha", "Gamma"]);
    let reply = f
        .call(
            Method::GET,
            &format!("accounts?$select=name&$filter=Microsoft.Dynamics.CRM.Under(PropertyName='accountid',PropertyValue=@p)&@p='{BETA}'&$orderby=name"),
            &token,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["value"].as_array().unwrap().len(), 2);
}

/// Wrong kinds, parameters and lambdas are refused with 400 and a message naming the fault.
#[tokio::test]
async fn refuses_what_dataverse_refuses() {
    let (f, token) = seeded().await;
    for (filter, says) in [
        (
            qf("LastXDays", "name',PropertyValue=7)"),
            "cannot be used on 'name'",
        ),
        (qf("EqualUserId", "name')"), "cannot be used on 'name'"),
        (
            qf("EqualUserId", "_ownerid_value')"),
            "logical name ('ownerid')",
        ),
        (
            qf("LastXDays", "lastonholdtime')"),
            "requires the parameter 'PropertyValue'",
        ),
        (
            qf("Between", "numberofemployees',PropertyValues=[\"1\"])"),
            "exactly two values",
        ),
        (
            qf("In", "numberofemployees',PropertyValues=[\"x\"])"),
            "not valid for",
        ),
        (
            qf("ThisFiscalYear", "lastonholdtime')"),
            "not supported by this emulator",
        ),
        (qf("NoSuchThing", "lastonholdtime')"), "Unknown function"),
        (
            qf("In", "nosuch',PropertyValues=[\"1\"])"),
            "Could not find a property named 'nosuch'",
        ),
        (
            qf("In", "name',PropertyValues=[\"a\" \"b\"])"),
            "comma character",
        ),
        (
            "Account_Tasks/any(t:statecode eq 0)".to_owned(),
            "lambda variable 't'",
        ),
        (
            "primarycontactid/any(c:c/fullname eq 'x')".to_owned(),
            "collection-valued navigation property",
        ),
        (
            "Account_Tasks/any(t:t/nosuch eq 0)".to_owned(),
            "Could not find a property named 'nosuch'",
        ),
    ] {
        let encoded: String = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect();
        let reply = f
            .call(Method::GET, &format!("accounts?$filter={encoded}"), &token)
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{filter}: {}",
            reply.body
        );
        let message = reply.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{filter}: {message}");
    }
}
