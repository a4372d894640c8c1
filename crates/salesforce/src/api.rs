//! [`Client`] as the actions steps call and the service triggers use.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::client::{Client, ConnectionStats};
use super::{
    BulkJobs, BulkPage, Result, SalesforceActions, SalesforceService, Upserted, WriteOperation,
    WriteOptions,
};

#[async_trait]
impl SalesforceActions for Client {
    async fn query(&self, soql: &str, include_deleted: bool, max_bytes: usize) -> Result<String> {
        self.query_json(soql, include_deleted, max_bytes).await
    }

    async fn get(&self, sobject: &str, id: &str, fields: &[String]) -> Result<Value> {
        Client::get(self, sobject, id, fields).await
    }

    async fn create(&self, sobject: &str, record: Value) -> Result<String> {
        Client::create(self, sobject, &record).await
    }

    async fn update(&self, sobject: &str, id: &str, record: Value) -> Result<()> {
        Client::update(self, sobject, id, &record).await
    }

    async fn upsert(
        &self,
        sobject: &str,
        external_id_field: &str,
        external_id: &str,
        record: Value,
    ) -> Result<Upserted> {
        Client::upsert(self, sobject, external_id_field, external_id, &record).await
    }

    async fn delete(&self, sobject: &str, id: &str) -> Result<()> {
        Client::delete(self, sobject, id).await
    }

    async fn write_many(
        &self,
        operation: WriteOperation,
        sobject: &str,
        records: Vec<Value>,
        options: WriteOptions,
        jobs: &dyn BulkJobs,
    ) -> Result<Vec<Value>> {
        Client::write_many_tracked(self, operation, sobject, records, &options, jobs).await
    }

    async fn describe(&self, sobject: &str) -> Result<Arc<Value>> {
        Client::describe(self, sobject).await
    }

    async fn request(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        Client::request(self, method, path, body.as_ref()).await
    }
}

#[async_trait]
impl SalesforceService for Client {
    async fn session_organization(&self, session_id: &str) -> Result<String> {
        Client::session_organization(self, session_id).await
    }

    async fn count(&self, soql: &str, include_deleted: bool) -> Result<u64> {
        let mut pages = self.query_pages(soql, include_deleted);
        if let Some(page) = pages.next_page().await {
            page?;
        }
        Ok(pages.total_size().unwrap_or_default())
    }

    async fn start_bulk_query(&self, soql: &str, include_deleted: bool) -> Result<String> {
        Client::start_bulk_query(self, soql, include_deleted).await
    }

    async fn bulk_query_page(&self, job_path: &str, locator: Option<&str>) -> Result<BulkPage> {
        Client::bulk_query_page(self, job_path, locator).await
    }

    fn stats(&self) -> Option<ConnectionStats> {
        Some(Client::stats(self))
    }

    async fn session(&self, renew: bool) -> Result<crate::Session> {
        Client::session(self, renew).await
    }
}
