//! The notifier: turns what a pass found into notices, through the outbox.
//!
//! [`Notifier::observe`] takes a pass's [`Observation`] and, in one transaction of the
//! state store, compares it with what each receiver was told of the tenant
//! (`condition.rs`), records what changed, and records one notice per receiver, kind and
//! phase in the outbox. So a crash can neither lose a message whose condition was
//! recorded nor send one twice. Then it asks the [`Deliverer`] to send them; what a
//! receiver cannot take now waits in the outbox and is retried like a commit status,
//! across restarts. [`Notifier::heartbeat_until`] re-sends Alertmanager's firing alerts.
//!
//! The notifier never fails a reconcile: what goes wrong here is logged.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::condition::{self, ConditionKind, Observation, Transition};
use super::event::{Event, Item, Links, Phase, rfc3339};
use super::receiver::{Error, NotifyReceiver, build};
use crate::config::LoadedConfig;
use crate::report::{self, Deliverer, Message, OutboxKey, Reporter};
use crate::store::{self, Store};

/// The commit a heartbeat is filed under in the outbox: it is about no one commit.
const NO_COMMIT: &str = "0000000000000000000000000000000000000000";

/// Sends what changed to the configured receivers. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    receivers: Vec<Arc<NotifyReceiver>>,
    store: Store,
    deliverer: Deliverer,
    links: Links,
}

impl Notifier {
    /// Build the receivers of `loaded`, a [`Deliverer`] for them and for `reporters` (the
    /// commit statuses' destinations) over the outbox in `store`, and the notifier.
    ///
    /// # Errors
    /// [`Error::Config`] or [`Error::File`] when a receiver's URL or secret cannot be read;
    /// [`Error::Store`] when the state store cannot be prepared.
    pub async fn setup(
        loaded: &LoadedConfig,
        store: &Store,
        reporters: Vec<Box<dyn Reporter>>,
    ) -> Result<(Deliverer, Notifier), Error> {
        let config = loaded.clone();
        let receivers = tokio::task::spawn_blocking(move || build(&config))
            .await
            .map_err(|e| report::ReportError::task("read the receivers' secrets", e))??;
        let receivers: Vec<Arc<NotifyReceiver>> = receivers.into_iter().map(Arc::new).collect();
        let senders = receivers
            .iter()
            .map(|r| r.clone() as Arc<dyn report::Receiver>)
            .collect();
        let deliverer = Deliverer::with_receivers(store.connection(), reporters, senders).await?;
        let notifier = Notifier::new(
            store.clone(),
            deliverer.clone(),
            receivers,
            Links::from_config(loaded),
        )
        .await?;
        Ok((deliverer, notifier))
    }

    /// A notifier for `receivers` (which `deliverer` must deliver to). Forgets what
    /// receivers no longer configured, or no longer hearing of a tenant or a kind, were
    /// told.
    ///
    /// # Errors
    /// [`Error::Store`] when the state store cannot be prepared.
    pub async fn new(
        store: Store,
        deliverer: Deliverer,
        receivers: Vec<Arc<NotifyReceiver>>,
        links: Links,
    ) -> Result<Self, Error> {
        let hearing: Vec<Arc<NotifyReceiver>> = receivers.clone();
        let forgotten = store
            .call(move |conn| {
                condition::migrate(conn)?;
                let keep = |receiver: &str, tenant: &str, kind: ConditionKind| {
                    hearing.iter().any(|r| {
                        r.name() == receiver && r.hears_of(tenant) && r.kinds().contains(&kind)
                    })
                };
                Ok(condition::forget(conn, &keep)?)
            })
            .await?;
        if forgotten > 0 {
            info!(
                forgotten,
                "forgot open conditions of receivers or tenants no longer configured"
            );
        }
        for r in &receivers {
            crate::metrics::get().init_receiver(r.name());
        }
        Ok(Notifier {
            inner: Arc::new(Inner {
                receivers,
                store,
                deliverer,
                links,
            }),
        })
    }

    /// How many receivers are configured.
    pub fn len(&self) -> usize {
        self.inner.receivers.len()
    }

    /// Whether no receiver is configured.
    pub fn is_empty(&self) -> bool {
        self.inner.receivers.is_empty()
    }

    /// Tell every receiver hearing of the tenant what opened and what cleared since it was
    /// last told. Returns whether notices wait in the outbox (the caller wakes whoever
    /// drains it).
    pub async fn observe(&self, observation: Observation) -> bool {
        let hearing = self.receivers_where(|r| r.hears_of(&observation.tenant));
        if hearing.is_empty() {
            return false;
        }
        let now_ms = self.inner.deliverer.now_ms();
        let links = self.inner.links.clone();
        let tenant = observation.tenant.clone();
        let recorded = self
            .inner
            .store
            .call(move |conn| {
                let tx = conn.transaction()?;
                let mut observation = observation;
                if observation.known.contains(&ConditionKind::Warning) {
                    let open = store::warnings::for_tenant(&tx, &observation.tenant)?;
                    observation = observation.with_warnings(&open);
                }
                let mut sent = Vec::new();
                for receiver in &hearing {
                    let transition =
                        condition::track(&tx, receiver.name(), &observation, &receiver.kinds())?;
                    for event in
                        events(&observation, transition, receiver.hears_recovered(), &links)
                    {
                        let notice = receiver.notice(
                            event.key(),
                            event.summary(),
                            std::slice::from_ref(&event),
                        );
                        let id = enqueue(&tx, receiver, &observation.sha, notice, now_ms)?;
                        sent.push((id, receiver.name().to_owned(), event.title()));
                    }
                }
                tx.commit()?;
                Ok(sent)
            })
            .await;
        let sent = match recorded {
            Ok(sent) => sent,
            Err(e) => {
                warn!(tenant, error = %e, "cannot record notifications; the receivers are not told of this pass");
                return false;
            }
        };
        for (_, receiver, title) in &sent {
            info!(tenant, receiver, "notification: {title}");
        }
        let mut ids: Vec<String> = sent.into_iter().map(|(id, _, _)| id).collect();
        ids.sort();
        ids.dedup();
        self.deliver(&ids).await
    }

    /// The receivers `keep` takes.
    fn receivers_where(&self, keep: impl Fn(&NotifyReceiver) -> bool) -> Vec<Arc<NotifyReceiver>> {
        self.inner
            .receivers
            .iter()
            .filter(|r| keep(r))
            .cloned()
            .collect()
    }

    /// Send what waits for receivers `ids` now; whether some of it still waits.
    async fn deliver(&self, ids: &[String]) -> bool {
        if ids.is_empty() {
            return false;
        }
        match self.inner.deliverer.deliver_to(ids).await {
            Ok(report) => report.queued > 0,
            Err(e) => {
                warn!(error = %e, "cannot deliver notifications now; they wait in the outbox");
                true
            }
        }
    }

    /// Send the firing alerts of the Alertmanager receivers named in `due` again (one
    /// request per receiver with all its firing alerts; none when nothing fires). Returns
    /// whether some wait in the outbox.
    pub async fn heartbeat(&self, due: &[String]) -> bool {
        let receivers = self.receivers_where(|r| {
            r.resend_interval().is_some() && due.iter().any(|d| d == r.name())
        });
        if receivers.is_empty() {
            return false;
        }
        let now_ms = self.inner.deliverer.now_ms();
        let links = self.inner.links.clone();
        let recorded = self
            .inner
            .store
            .call(move |conn| {
                let tx = conn.transaction()?;
                let at = chrono::Utc::now();
                let mut ids = Vec::new();
                for receiver in &receivers {
                    let rows = condition::rows(&tx, receiver.name(), None)?;
                    if rows.is_empty() {
                        continue;
                    }
                    let mut groups: BTreeMap<(String, ConditionKind), Vec<Item>> = BTreeMap::new();
                    for (tenant, tracked) in rows {
                        groups
                            .entry((tenant, tracked.condition.kind))
                            .or_default()
                            .push(Item {
                                tracked,
                                resolved_at: None,
                            });
                    }
                    let events: Vec<Event> = groups
                        .into_iter()
                        .map(|((tenant, kind), items)| {
                            let sha = items[0].tracked.sha.clone();
                            Event {
                                status_page: links.status_page(&tenant, &sha),
                                commit_url: links.commit(&sha),
                                tenant,
                                kind,
                                phase: Phase::Firing,
                                at,
                                sha,
                                items,
                            }
                        })
                        .collect();
                    let firing: usize = events.iter().map(|e| e.items.len()).sum();
                    let notice = receiver.notice(
                        "heartbeat".to_owned(),
                        format!("re-send of {firing} firing alert(s) at {}", rfc3339(at)),
                        &events,
                    );
                    ids.push(enqueue(&tx, receiver, NO_COMMIT, notice, now_ms)?);
                }
                tx.commit()?;
                Ok(ids)
            })
            .await;
        match recorded {
            Ok(ids) => self.deliver(&ids).await,
            Err(e) => {
                warn!(error = %e, "cannot record the re-send of firing alerts");
                false
            }
        }
    }

    /// Re-send Alertmanager receivers' firing alerts every `resendInterval` until `stop`
    /// fires; `wake` is notified when some wait in the outbox. Returns at once when no
    /// Alertmanager receiver is configured.
    pub async fn heartbeat_until(self, wake: Arc<Notify>, stop: CancellationToken) {
        let beats: Vec<(String, Duration)> = self
            .inner
            .receivers
            .iter()
            .filter_map(|r| r.resend_interval().map(|i| (r.name().to_owned(), i)))
            .collect();
        let Some(tick) = beats.iter().map(|(_, i)| *i).min() else {
            return;
        };
        let start = tokio::time::Instant::now();
        let mut last: BTreeMap<String, tokio::time::Instant> =
            beats.iter().map(|(n, _)| (n.clone(), start)).collect();
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(tick) => {}
            }
            let now = tokio::time::Instant::now();
            let due: Vec<String> = beats
                .iter()
                .filter(|(name, interval)| {
                    last.get(name)
                        .is_none_or(|at| now.duration_since(*at) + tick / 10 >= *interval)
                })
                .map(|(name, _)| name.clone())
                .collect();
            for name in &due {
                last.insert(name.clone(), now);
            }
            if self.heartbeat(&due).await {
                wake.notify_one();
            }
        }
    }
}

/// Put `notice` in the outbox of `receiver` for commit `sha`, in the caller's
/// transaction; returns the receiver's outbox id.
fn enqueue(
    tx: &rusqlite::Transaction<'_>,
    receiver: &NotifyReceiver,
    sha: &str,
    notice: report::Notice,
    now_ms: i64,
) -> rusqlite::Result<String> {
    let key = OutboxKey {
        reporter: report::Receiver::id(receiver),
        sha: sha.to_owned(),
        context: notice.key.clone(),
    };
    report::enqueue(tx, &key, &Message::Notice(notice), now_ms)?;
    Ok(key.reporter)
}

/// The events of one receiver for one pass: per kind, one for what opened, and one for
/// what cleared when the receiver hears of recoveries.
fn events(
    observation: &Observation,
    transition: Transition,
    recovered: bool,
    links: &Links,
) -> Vec<Event> {
    let mut groups: BTreeMap<(ConditionKind, u8), Vec<Item>> = BTreeMap::new();
    let opened = transition.opened.into_iter().map(|tracked| (tracked, None));
    let resolved = transition
        .resolved
        .into_iter()
        .filter(|_| recovered)
        .map(|tracked| (tracked, Some(observation.at)));
    for (tracked, resolved_at) in opened.chain(resolved) {
        groups
            .entry((tracked.condition.kind, u8::from(resolved_at.is_some())))
            .or_default()
            .push(Item {
                tracked,
                resolved_at,
            });
    }
    groups
        .into_iter()
        .map(|((kind, phase), items)| Event {
            tenant: observation.tenant.clone(),
            kind,
            phase: if phase == 0 {
                Phase::Opened
            } else {
                Phase::Resolved
            },
            at: observation.at,
            sha: observation.sha.clone(),
            status_page: links.status_page(&observation.tenant, &observation.sha),
            commit_url: links.commit(&observation.sha),
            items,
        })
        .collect()
}
