//! The paginated list loop, written once for the three platforms.
//!
//! Each platform names its pages differently (Kizen by page number, Agent Studio by an
//! opaque cursor, CDE by an offset) and wraps items differently; a [`Page`] type says how,
//! and [`Endpoint::list_all`] walks the pages: it follows each page's token until a page
//! has none, and stops with a decode error when a token points back to a page already
//! read, so a platform that loops cannot make a list run forever.
//!
//! Paging is modelled (no vendor document shows a list call). A tenant that switched
//! capability `paging` off gets one request without paging parameters, whose answer must
//! hold the whole list: an answer naming a next page is then an error saying so.

use std::fmt;

use serde::de::DeserializeOwned;

use super::error::{Error, Result, Scope};
use super::http::{Endpoint, Request};
use crate::capability::Capability;

/// A page's items and the next page's token (`None` on the last page).
pub(crate) struct Parts<I, T> {
    pub(crate) items: Vec<I>,
    pub(crate) next: Option<T>,
}

/// One page of a platform's list answer.
pub(crate) trait Page: DeserializeOwned {
    /// What the page lists.
    type Item;
    /// What names a page: a number, an offset or a cursor.
    type Token: Clone + PartialEq + fmt::Display;

    /// The first page's token.
    fn first() -> Self::Token;

    /// The request path of the page `token` names.
    fn path(token: &Self::Token) -> String;

    /// The request path of the whole list without paging parameters.
    fn unpaged_path() -> String;

    /// How a message names the page `token` names (`page 3`, `page from 100`).
    fn describe(token: &Self::Token) -> String;

    /// The page's items and the next page's token.
    ///
    /// # Errors
    /// An item the platform sent that cannot be read.
    fn into_parts(self, scope: &Scope) -> Result<Parts<Self::Item, Self::Token>>;
}

impl Endpoint {
    /// Every item of a paginated collection, all pages, in the platform's order.
    ///
    /// # Errors
    /// The first failed request, an unreadable page, or [`Error::Decode`] when a page's
    /// next token names a page already read.
    pub(crate) async fn list_all<P: Page>(&self, scope: &Scope) -> Result<Vec<P::Item>> {
        if !self.capabilities.enabled(Capability::Paging) {
            let page: P = self.json(scope, Request::get(P::unpaged_path())).await?;
            let Parts { items, next } = page.into_parts(scope)?;
            return match next {
                None => Ok(items),
                Some(next) => Err(Error::decode(
                    scope,
                    format!(
                        "the list answer names a next page ({next}) but the tenant switched capability `paging` off (`capabilities.paging: false`); switch it on to read every page"
                    ),
                )),
            };
        }
        let mut out = Vec::new();
        let mut token = P::first();
        let mut read = vec![token.clone()];
        loop {
            let page: P = self.json(scope, Request::get(P::path(&token))).await?;
            let Parts { items, next } = page.into_parts(scope)?;
            out.extend(items);
            match next {
                None => return Ok(out),
                Some(next) if read.contains(&next) => {
                    return Err(Error::decode(
                        scope,
                        format!("{} points back to {next}", P::describe(&token)),
                    ));
                }
                Some(next) => {
                    read.push(next.clone());
                    token = next;
                }
            }
        }
    }
}
