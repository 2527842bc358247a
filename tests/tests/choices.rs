//! Choice columns as enums: wire values, unknown values, labels, multi-select sets, typed filters.

use dynamics_client::__private::serde_json::{self, json};
use dynamics_client::{
    Query,
    entity::{Choice, MultiChoice},
};
use dynamics_tests::with_choices::{
    Account, AccountIndustrycode, AccountStatecode, NewProject, NewProjectNewTags, NewProjectstage,
    TaskPrioritycode,
};

#[test]
fn choices_read_and_write_their_integers() {
    let account: Account = serde_json::from_value(json!({
        "industrycode": 2,
        "statecode": 0,
        "creditonhold": true
    }))
    .unwrap();
    assert_eq!(
        account.industrycode,
        Some(AccountIndustrycode::AgricultureAndNonPetrolNaturalResourceExtraction)
    );
    assert_eq!(account.statecode, Some(AccountStatecode::Active));
    assert_eq!(
        account.creditonhold,
        Some(true),
        "two-option columns stay bool"
    );
    let written = serde_json::to_value(&account).unwrap();
    assert_eq!(
        written,
        json!({"industrycode": 2, "statecode": 0, "creditonhold": true})
    );
    assert_eq!(AccountIndustrycode::Accounting.label(), Some("Accounting"));
    assert_eq!(TaskPrioritycode::High.value(), 2);
}

#[test]
fn values_added_later_still_read() {
    let account: Account = serde_json::from_value(json!({"industrycode": 999})).unwrap();
    assert_eq!(
        account.industrycode,
        Some(AccountIndustrycode::Unknown(999))
    );
    assert_eq!(account.industrycode.and_then(|c| c.label()), None);
    assert_eq!(
        serde_json::to_value(&account).unwrap(),
        json!({"industrycode": 999})
    );
}

#[test]
fn global_and_multi_select_choices() {
    let project: NewProject = serde_json::from_value(json!({
        "new_stage": 100000001,
        "new_tags": "100000002,100000000"
    }))
    .unwrap();
    assert_eq!(project.new_stage, Some(NewProjectstage::Running));
    let tags = project.new_tags.clone().unwrap();
    assert!(tags.contains(&NewProjectNewTags::Internal));
    assert!(tags.contains(&NewProjectNewTags::ResearchDevelopment));
    assert_eq!(
        serde_json::to_value(&project).unwrap(),
        json!({"new_stage": 100000001, "new_tags": "100000000,100000002"})
    );
    let empty: MultiChoice<NewProjectNewTags> = MultiChoice::new();
    assert_eq!(serde_json::to_value(&empty).unwrap(), json!(""));
}

#[test]
fn typed_filters_take_the_enums() {
    let query = Query::<Account>::new().filter(
        Account::INDUSTRYCODE
            .eq(AccountIndustrycode::Brokers)
            .and(Account::STATECODE.ne(AccountStatecode::Inactive)),
    );
    assert_eq!(
        query.to_query_string(),
        "$filter=(industrycode%20eq%204)%20and%20(statecode%20ne%201)"
    );
}
