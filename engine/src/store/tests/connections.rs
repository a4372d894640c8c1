//! Connections and connect sessions, on each backend.

use std::sync::Arc;

use super::on_each_store;
use crate::model::{ConnectSession, ConnectionId, ConnectionRecord, ConnectionStatus, Sealed, now};
use crate::store::{Store, Written};

fn record(tenant: &str, user: &str) -> ConnectionRecord {
    ConnectionRecord {
        id: ConnectionId::random(),
        tenant: tenant.into(),
        app: "default".into(),
        login_host: "https://login.salesforce.com".into(),
        instance_url: "https://acme.my.salesforce.com".into(),
        org_id: "00D000000000001AAA".into(),
        user_id: user.into(),
        username: "ada@acme.example".into(),
        scopes: vec!["api".into()],
        status: ConnectionStatus::Active,
        last_error: None,
        created_at: now(),
        connected_at: now(),
        last_refresh: None,
        last_used: None,
        api_usage: None,
        tokens: Sealed(vec![1, 2, 3]),
        version: 0,
    }
}

async fn writes_name_the_version_they_read_and_identities_stay_unique(store: Arc<dyn Store>) {
    let first = record("t1", "005000000000001AAA");
    assert_eq!(
        store.put_connection(&first, None).await.unwrap(),
        Written::Done
    );
    assert_eq!(
        store.put_connection(&first, None).await.unwrap(),
        Written::Stale,
        "it exists now"
    );
    let stored = store.connection(&first.id).await.unwrap().unwrap();
    assert_eq!(stored.version, 1);

    // Two writers read version 1; the second is refused.
    let mut a = stored.clone();
    a.status = ConnectionStatus::Degraded;
    let mut b = stored.clone();
    b.last_error = Some("b".into());
    assert_eq!(
        store.put_connection(&a, Some(1)).await.unwrap(),
        Written::Done
    );
    assert_eq!(
        store.put_connection(&b, Some(1)).await.unwrap(),
        Written::Stale
    );
    let now_stored = store.connection(&first.id).await.unwrap().unwrap();
    assert_eq!(
        (now_stored.version, now_stored.status),
        (2, ConnectionStatus::Degraded)
    );

    // Another connection of the same tenant, org, user and app is refused.
    let twin = record("t1", "005000000000001AAA");
    assert_eq!(
        store.put_connection(&twin, None).await.unwrap(),
        Written::IdentityTaken(first.id.clone())
    );
    assert!(store.connection(&twin.id).await.unwrap().is_none());
    // Another tenant's is not.
    let other = record("t2", "005000000000001AAA");
    assert_eq!(
        store.put_connection(&other, None).await.unwrap(),
        Written::Done
    );
    assert_eq!(
        store
            .connection_by_identity(&other.identity())
            .await
            .unwrap()
            .unwrap()
            .id,
        other.id
    );

    // Deleting frees the identity.
    assert!(store.delete_connection(&first.id).await.unwrap());
    assert!(!store.delete_connection(&first.id).await.unwrap());
    assert_eq!(
        store.put_connection(&twin, None).await.unwrap(),
        Written::Done
    );
    assert_eq!(store.connections().await.unwrap().len(), 2);
}

async fn a_connect_session_is_swapped_and_taken_once(store: Arc<dyn Store>) {
    let session = ConnectSession {
        id: "s1".into(),
        tenant: "t".into(),
        app: "default".into(),
        login_host: "https://login.salesforce.com".into(),
        redirect_after: "https://app.example/done".into(),
        reconnect: None,
        created_at: now(),
        expires_at: now(),
        opened: None,
    };
    assert!(store.swap_connect_session(None, &session).await.unwrap());
    assert!(!store.swap_connect_session(None, &session).await.unwrap());
    let mut opened = session.clone();
    opened.opened = Some(crate::model::OpenedSession {
        nonce: "n".into(),
        verifier: Sealed(vec![9]),
    });
    assert!(
        store
            .swap_connect_session(Some(&session), &opened)
            .await
            .unwrap()
    );
    assert!(
        !store
            .swap_connect_session(Some(&session), &opened)
            .await
            .unwrap(),
        "opened once"
    );
    assert!(!store.take_connect_session(&session).await.unwrap());
    assert!(store.take_connect_session(&opened).await.unwrap());
    assert!(
        !store.take_connect_session(&opened).await.unwrap(),
        "spent once"
    );
    assert!(store.connect_session("s1").await.unwrap().is_none());
}

on_each_store!(
    writes_name_the_version_they_read_and_identities_stay_unique,
    a_connect_session_is_swapped_and_taken_once,
);
