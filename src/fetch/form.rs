//! POST of a form: how a WebSub subscriber asks a hub to (un)subscribe. It
//! goes through the SSRF guard and the hub's host group like any request.

use reqwest::header::CONTENT_TYPE;
use url::Url;

use super::{FetchError, Fetcher, read_capped};

/// What a hub's answer may say, read up to this: an error's reason.
const MAX_ANSWER_BYTES: u64 = 16 * 1024;

impl Fetcher {
    /// POSTs `form` (`application/x-www-form-urlencoded`) to `url`. A
    /// success status is the answer; any other is `FetchError::Status`.
    pub async fn post_form(&self, url: &Url, form: &[(&str, &str)]) -> Result<u16, FetchError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = self
            .client
            .post(url.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        let response = self.send_request(request, url).await?;
        let status = response.status().as_u16();
        // Read (capped) so the connection can be reused.
        read_capped(response, MAX_ANSWER_BYTES).await?;
        Ok(status)
    }
}
