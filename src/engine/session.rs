//! Scenario sessions: one virtual user's walk through a scenario's steps, with its own
//! variables, cookie jar and connection. Each request step renders its templates against the
//! user's variables, sends, judges the response (status, checks), extracts variables for
//! later steps, and is recorded like any endpoint; a 401 re-runs the login step once.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, COOKIE};
use http::{HeaderValue, Request};
use http_body_util::Full;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::client::{Conn, HttpClient};
use super::transport::Transport;
use crate::config::Target;
use crate::metrics::ProfileRecorder;
use crate::outcome::ErrorKind;
use crate::scenario::model::{
    Auth, OnFailure, RequestStep, Scenario, Step, AUTH_BEARER, AUTH_PASSWORD, AUTH_USER,
};
use crate::scenario::{CookieJar, Vars};

/// One virtual user's state, kept across iterations in the closed model.
pub struct User {
    vars: Vars,
    jar: CookieJar,
    slot: Option<Conn>,
    rng: fastrand::Rng,
    /// The `once` steps (a login) have succeeded: later iterations skip them.
    once_done: bool,
}

/// Why an iteration ended early.
enum Halt {
    /// A step failed and the scenario says stop.
    Failed,
    Cancelled,
}

pub struct Session {
    scenario: Arc<Scenario>,
    target: Arc<Target>,
    client: Arc<HttpClient>,
    recorder: Arc<ProfileRecorder>,
    cancel: CancellationToken,
}

impl Session {
    pub fn new(
        scenario: Arc<Scenario>,
        target: Arc<Target>,
        client: Arc<HttpClient>,
        recorder: Arc<ProfileRecorder>,
        cancel: CancellationToken,
    ) -> Self {
        Session {
            scenario,
            target,
            client,
            recorder,
            cancel,
        }
    }

    /// A new user: the scenario's constants and secrets, and the next row of each feeder.
    pub fn user(&self) -> User {
        let mut vars = self.scenario.initial.clone();
        for f in &self.scenario.feeders {
            vars.set(f.name(), f.next());
        }
        User {
            vars,
            jar: CookieJar::new(),
            slot: None,
            rng: fastrand::Rng::new(),
            once_done: false,
        }
    }

    /// Hands a finished user's connection back to the pool, so the next session (the next
    /// arrival in the open model) reuses it instead of opening one more.
    pub fn release(&self, user: User) {
        if let Some(conn) = user.slot {
            self.client.put_idle(conn);
        }
    }

    /// Runs the scenario once for `user`. `origin` is when the iteration was meant to start:
    /// the first request's latency and the iteration's duration count from it (open model).
    /// Returns whether every step passed.
    pub async fn iterate(&self, user: &mut User, origin: Instant) -> bool {
        let mut state = Iteration {
            origin: Some(origin),
            failed: false,
            once_failed: false,
        };
        let halted = self.steps(&self.scenario.steps, user, &mut state).await;
        if matches!(halted, Err(Halt::Cancelled)) {
            return false;
        }
        if !state.once_failed {
            user.once_done = true;
        }
        let ok = !state.failed;
        self.recorder.iteration(origin.elapsed(), ok);
        ok
    }

    fn steps<'a>(
        &'a self,
        steps: &'a [Step],
        user: &'a mut User,
        state: &'a mut Iteration,
    ) -> Pin<Box<dyn Future<Output = Result<(), Halt>> + Send + 'a>> {
        Box::pin(async move {
            for step in steps {
                if self.cancel.is_cancelled() {
                    return Err(Halt::Cancelled);
                }
                match step {
                    Step::Request(r) => {
                        if r.once && user.once_done {
                            continue;
                        }
                        let passed = self.request(r, user, state.origin.take()).await;
                        if !passed {
                            state.failed = true;
                            state.once_failed |= r.once;
                            if self.scenario.on_failure == OnFailure::Stop {
                                return Err(Halt::Failed);
                            }
                        }
                    }
                    Step::Think(t) => {
                        let pause = t.sample(&mut user.rng);
                        tokio::select! {
                            _ = tokio::time::sleep(pause) => {}
                            _ = self.cancel.cancelled() => return Err(Halt::Cancelled),
                        }
                    }
                    Step::Repeat { times, steps } => {
                        for _ in 0..*times {
                            self.steps(steps, user, state).await?;
                        }
                    }
                }
            }
            Ok(())
        })
    }

    /// Sends one request step; on a 401 with a login step configured, logs in again and
    /// retries once. Returns whether the step passed.
    async fn request(&self, step: &RequestStep, user: &mut User, origin: Option<Instant>) -> bool {
        let relogin = self.scenario.login.filter(|&l| l != step.endpoint);
        let first = self.send(step, user, origin, relogin.is_some()).await;
        match (first, relogin) {
            (Sent::Unauthorized, Some(login)) => {
                let Some(login_step) = self.scenario.request(login) else {
                    return false;
                };
                if !Box::pin(self.request(login_step, user, None)).await {
                    return false;
                }
                matches!(self.send(step, user, None, false).await, Sent::Passed)
            }
            (sent, _) => matches!(sent, Sent::Passed),
        }
    }

    /// One attempt. With `may_retry`, a 401 is recorded as a response (not an error) and
    /// handed back for a login and retry.
    async fn send(
        &self,
        step: &RequestStep,
        user: &mut User,
        origin: Option<Instant>,
        may_retry: bool,
    ) -> Sent {
        let (req, path) = match self.build(step, user) {
            Ok(r) => r,
            Err(reason) => {
                // Nothing was sent: a template referred to a value an earlier step failed to
                // extract. Counted as the step's failed check, never logged with values.
                tracing::debug!(step = %step.name, %reason, "request not built");
                self.recorder.check(step.endpoint, 0, false);
                return Sent::Failed;
            }
        };
        let sent = Instant::now();
        // Measured from the intended start when late (the first step of an open-model
        // session), from the send otherwise.
        let from = origin.map_or(sent, |o| o.min(sent));
        self.recorder.started();
        let (mut outcome, captured) = self
            .client
            .call_request(req, &mut user.slot, step.capture)
            .await;
        self.recorder.finished();
        let latency = from.elapsed();
        let Some(resp) = captured else {
            self.recorder.record(step.endpoint, latency, &outcome);
            return Sent::Failed;
        };
        user.jar.store(&path, &resp.headers);
        if may_retry && resp.status == 401 {
            self.recorder.record(step.endpoint, latency, &outcome);
            return Sent::Unauthorized;
        }
        let mut passed = true;
        let status_ok = step.status_ok(resp.status);
        self.recorder.check(step.endpoint, 0, status_ok);
        if !status_ok {
            outcome.error = Some(ErrorKind::Status);
            passed = false;
        }
        for (i, check) in step.checks.iter().enumerate() {
            let ok = check.evaluate(resp.status, &resp.headers, &resp.body, latency);
            self.recorder.check(step.endpoint, 1 + i, ok);
            passed &= ok;
        }
        for (i, (var, extractor)) in step.extract.iter().enumerate() {
            let value = extractor.extract(resp.status, &resp.headers, &resp.body);
            self.recorder
                .check(step.endpoint, 1 + step.checks.len() + i, value.is_some());
            match value {
                Some(v) => user.vars.set(var, v),
                None => passed = false,
            }
        }
        if !passed && outcome.error.is_none() {
            outcome.error = Some(ErrorKind::Check);
        }
        self.recorder.record(step.endpoint, latency, &outcome);
        if passed {
            Sent::Passed
        } else {
            Sent::Failed
        }
    }

    /// Renders the step's request for `user`; also returns the path (for cookie scoping).
    fn build(
        &self,
        step: &RequestStep,
        user: &User,
    ) -> Result<(Request<Full<Bytes>>, String), String> {
        let t = &self.scenario.templates;
        let path = t.render(&step.path_template(), &user.vars)?;
        let uri = self
            .client
            .uri(&path)
            .map_err(|_| format!("invalid rendered path for step {}", step.name))?;
        let body = if step.has_body {
            Bytes::from(t.render(&step.body_template(), &user.vars)?)
        } else {
            Bytes::new()
        };
        let mut headers = self
            .target
            .request_headers(&self.target.endpoints[step.endpoint]);
        for (name, template) in &step.headers {
            let v = t.render(template, &user.vars)?;
            let v = HeaderValue::try_from(v)
                .map_err(|_| format!("invalid rendered value for header {name}"))?;
            headers.insert(name.clone(), v);
        }
        // Auth whose values do not exist yet (before the login step) is left out.
        let auth = match self.scenario.auth {
            Auth::None => None,
            Auth::Bearer => t
                .render(AUTH_BEARER, &user.vars)
                .ok()
                .map(|v| format!("Bearer {v}")),
            Auth::Basic => t
                .render(AUTH_USER, &user.vars)
                .and_then(|u| Ok(format!("{u}:{}", t.render(AUTH_PASSWORD, &user.vars)?)))
                .ok()
                .map(|pair| {
                    format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(pair)
                    )
                }),
        };
        if let Some(a) = auth {
            // A step's own Authorization header wins over the scenario's.
            if !headers.contains_key(AUTHORIZATION) {
                let v = HeaderValue::try_from(a).map_err(|_| "invalid authorization value")?;
                headers.insert(AUTHORIZATION, v);
            }
        }
        if let Some(c) = user.jar.header(&path) {
            headers.insert(COOKIE, c);
        }
        if !body.is_empty() {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = step.method.clone();
        *req.uri_mut() = uri;
        *req.headers_mut() = headers;
        Ok((req, path))
    }
}

struct Iteration {
    /// The intended start, taken by the first request.
    origin: Option<Instant>,
    failed: bool,
    once_failed: bool,
}

enum Sent {
    Passed,
    Failed,
    /// A 401 that a login and retry may fix.
    Unauthorized,
}
