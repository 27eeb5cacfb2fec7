//! A compact binary encoding for resources that carry long lists into the page.
//!
//! A resource's value travels inside the server-rendered page so the browser can hydrate
//! without fetching it again. As JSON, a list of 50 jobs is about 30 KB that the server
//! writes and then escapes once more into a script string, quote by quote. As postcard it is
//! a third of that, in base64 that needs no escaping.

use leptos::server::codee::{Decoder, Encoder};
use serde::{de::DeserializeOwned, Deserialize, Deserializer, Serialize, Serializer};
use std::ops::Deref;
use std::sync::Arc;

/// Postcard, carried as base64: use as a resource's codec, `Resource<T, Compact>`.
pub struct Compact;

impl<T: Serialize> Encoder<T> for Compact {
    type Error = postcard::Error;
    type Encoded = Vec<u8>;

    fn encode(value: &T) -> Result<Vec<u8>, postcard::Error> {
        postcard::to_allocvec(value)
    }
}

impl<T: DeserializeOwned> Decoder<T> for Compact {
    type Error = postcard::Error;
    type Encoded = [u8];

    fn decode(bytes: &[u8]) -> Result<T, postcard::Error> {
        postcard::from_bytes(bytes)
    }
}

/// A value that clones without copying. A resource hands out a clone of its value at every
/// `.await`, and a page renders after two (one to find its resources, one to render): for a
/// long list that is every string of every row, twice. Serialized as the value itself.
#[derive(Debug, PartialEq)]
pub struct Shared<T>(Arc<T>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> From<Arc<T>> for Shared<T> {
    fn from(value: Arc<T>) -> Self {
        Shared(value)
    }
}

impl<T: Serialize> Serialize for Shared<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Shared<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(|value| Shared(Arc::new(value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AppError;
    use crate::model::{JobList, JobStatus, JobView, UserView, Via};

    fn job(id: i64) -> JobView {
        let person = UserView { id: 7, email: "carol@tshirts.example".into(), display_name: "Carol Customer".into() };
        JobView {
            id,
            project_key: "TSHIRTS".into(),
            dataset: "orders_by_country".into(),
            status: JobStatus::Failed,
            run_as: person.clone(),
            triggered_by: person.clone(),
            impersonated_by: Some(person),
            via: Via::Webapp { name: "Impersonation Demo".into() },
            created_at: 1_700_000_000_000,
            started_at: Some(1_700_000_000_100),
            finished_at: None,
            progress: 0.25,
            rows_in: Some(12),
            rows_out: None,
            error: Some("a \"quoted\" reason".into()),
        }
    }

    #[test]
    fn a_job_list_and_an_error_come_back_equal() {
        let jobs: Result<Vec<JobView>, AppError> = Ok(vec![job(1), job(2)]);
        let bytes = <Compact as Encoder<_>>::encode(&jobs).unwrap();
        assert_eq!(<Compact as Decoder<Result<Vec<JobView>, AppError>>>::decode(&bytes).unwrap(), jobs);
        let failed: Result<Vec<JobView>, AppError> = Err(AppError::Forbidden("not yours".into()));
        let bytes = <Compact as Encoder<_>>::encode(&failed).unwrap();
        assert_eq!(<Compact as Decoder<Result<Vec<JobView>, AppError>>>::decode(&bytes).unwrap(), failed);
    }

    #[test]
    fn a_shared_job_list_travels_as_the_bare_list() {
        let jobs = vec![job(1), job(2)];
        let shared: Result<Shared<JobList>, AppError> = Ok(Shared(Arc::new(JobList::new(jobs.clone()))));
        let bytes = <Compact as Encoder<_>>::encode(&shared).unwrap();
        assert_eq!(bytes, <Compact as Encoder<_>>::encode(&Ok::<_, AppError>(jobs.clone())).unwrap());
        assert_eq!(<Compact as Decoder<Result<Shared<JobList>, AppError>>>::decode(&bytes).unwrap(), shared);
        assert_eq!(serde_json::to_string(&shared).unwrap(), serde_json::to_string(&Ok::<_, AppError>(jobs)).unwrap());
    }

    #[test]
    fn a_list_is_far_smaller_than_as_json() {
        let jobs: Vec<JobView> = (1..=50).map(job).collect();
        let compact = <Compact as Encoder<_>>::encode(&jobs).unwrap().len();
        let json = serde_json::to_string(&jobs).unwrap().len();
        assert!(compact * 2 < json, "postcard {compact} bytes, JSON {json}");
    }

    #[test]
    fn truncated_bytes_are_an_error_not_a_panic() {
        let bytes = <Compact as Encoder<_>>::encode(&vec![job(1)]).unwrap();
        assert!(<Compact as Decoder<Vec<JobView>>>::decode(&bytes[..bytes.len() / 2]).is_err());
    }
}
