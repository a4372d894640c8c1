//! A stored connection's Salesforce client: every call is admitted by the
//! connection's [`Keeper`] first (a connection that needs its user again
//! fails at once) and noted after (when, and the org's API usage).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::keeper::Keeper;
use crate::salesforce::{
    BulkJobs, BulkPage, Client, ConnectionStats, Result, SalesforceActions, SalesforceService,
    Session, Upserted, WriteOperation, WriteOptions,
};

/// The client of one stored connection.
#[derive(Debug, Clone)]
pub struct ConnectionClient {
    client: Client,
    keeper: Arc<Keeper>,
}

impl ConnectionClient {
    pub(crate) fn new(client: Client, keeper: Arc<Keeper>) -> Self {
        Self { client, keeper }
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Runs `call` if the connection admits it, and notes it.
    async fn call<T>(&self, call: impl Future<Output = Result<T>>) -> Result<T> {
        self.keeper.admit()?;
        let answer = call.await;
        self.keeper.used(self.client.stats().api_usage).await;
        answer
    }

    /// Sets the status its calls are admitted by.
    pub(crate) fn set_status(&self, status: crate::model::ConnectionStatus) {
        self.keeper.set_status(status);
    }

    /// Fetches a new access token now (the keep-alive).
    pub(crate) async fn refresh_now(&self) -> Result<()> {
        self.keeper.admit()?;
        self.client.refresh_token_now().await
    }
}

#[async_trait]
impl SalesforceActions for ConnectionClient {
    async fn query(&self, soql: &str, include_deleted: bool, max_bytes: usize) -> Result<String> {
        self.call(SalesforceActions::query(
            &self.client,
            soql,
            include_deleted,
            max_bytes,
        ))
        .await
    }
    async fn get(&self, sobject: &str, id: &str, fields: &[String]) -> Result<Value> {
        self.call(SalesforceActions::get(&self.client, sobject, id, fields))
            .await
    }
    async fn create(&self, sobject: &str, record: Value) -> Result<String> {
        self.call(SalesforceActions::create(&self.client, sobject, record))
            .await
    }
    async fn update(&self, sobject: &str, id: &str, record: Value) -> Result<()> {
        self.call(SalesforceActions::update(&self.client, sobject, id, record))
            .await
    }
    async fn upsert(
        &self,
        sobject: &str,
        external_id_field: &str,
        external_id: &str,
        record: Value,
    ) -> Result<Upserted> {
        self.call(SalesforceActions::upsert(
            &self.client,
            sobject,
            external_id_field,
            external_id,
            record,
        ))
        .await
    }
    async fn delete(&self, sobject: &str, id: &str) -> Result<()> {
        self.call(SalesforceActions::delete(&self.client, sobject, id))
            .await
    }
    async fn write_many(
        &self,
        operation: WriteOperation,
        sobject: &str,
        records: Vec<Value>,
        options: WriteOptions,
        jobs: &dyn BulkJobs,
    ) -> Result<Vec<Value>> {
        self.call(SalesforceActions::write_many(
            &self.client,
            operation,
            sobject,
            records,
            options,
            jobs,
        ))
        .await
    }
    async fn describe(&self, sobject: &str) -> Result<Arc<Value>> {
        self.call(SalesforceActions::describe(&self.client, sobject))
            .await
    }
    async fn request(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        self.call(SalesforceActions::request(&self.client, method, path, body))
            .await
    }
}

#[async_trait]
impl SalesforceService for ConnectionClient {
    async fn session_organization(&self, session_id: &str) -> Result<String> {
        self.call(SalesforceService::session_organization(
            &self.client,
            session_id,
        ))
        .await
    }
    async fn count(&self, soql: &str, include_deleted: bool) -> Result<u64> {
        self.call(SalesforceService::count(
            &self.client,
            soql,
            include_deleted,
        ))
        .await
    }
    async fn start_bulk_query(&self, soql: &str, include_deleted: bool) -> Result<String> {
        self.call(SalesforceService::start_bulk_query(
            &self.client,
            soql,
            include_deleted,
        ))
        .await
    }
    async fn bulk_query_page(&self, job_path: &str, locator: Option<&str>) -> Result<BulkPage> {
        self.call(SalesforceService::bulk_query_page(
            &self.client,
            job_path,
            locator,
        ))
        .await
    }
    fn stats(&self) -> Option<ConnectionStats> {
        Some(self.client.stats())
    }
    async fn session(&self, renew: bool) -> Result<Session> {
        self.call(SalesforceService::session(&self.client, renew))
            .await
    }
}
