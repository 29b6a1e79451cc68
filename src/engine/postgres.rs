//! PostgreSQL: each request runs an endpoint's statement, or its transaction of statements
//! (BEGIN … COMMIT, measured as one request), each prepared once per connection, with its
//! parameters rendered from templates (the next row of each of the target's feeders, and the
//! endpoint's vars rendered from those) and converted to the types the server inferred for
//! them. A closed-model user keeps its connection (a session); open-model requests borrow one
//! from the pool, which `max_connections` bounds. A server error is a response whose code is
//! the SQLSTATE class (`42`: syntax or access, `23`: integrity, ...) and counts as a `status`
//! error; a connection problem is classified like any other transport's. With the URL's
//! `sslmode` a session is TLS (SSLRequest, then rustls with the target's trust settings).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::FutureExt;
use tokio::net::TcpStream;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::types::{FromSql, ToSql, Type};
use tokio_postgres::{Client, NoTls, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::resolve::resolve_counted;
use super::tls;
use super::transport::{Pool, Transport};
use crate::config::{SslMode, Target};
use crate::outcome::{Code, ErrorKind, NamedCode, Outcome};
use crate::scenario::template::{Templates, Vars};

/// A session, and the connection future that carries its messages. The request's task polls
/// both (no connection task of its own): a statement's round trip then wakes one task, not a
/// client task and a connection task handing messages through channels, which is most of
/// what tokio-postgres costs a generator.
pub struct SqlConn {
    session: Session,
    /// Never polled again once it ends: the request that saw it end drops the connection.
    driver: Driver,
}

type Driver = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A client and the statements prepared on it, by endpoint and statement.
struct Session {
    client: Client,
    prepared: Vec<Vec<Option<Statement>>>,
}

pub struct PostgresClient {
    target: Arc<Target>,
    /// Per endpoint, per statement, per parameter: the template's name.
    params: Vec<Vec<Vec<String>>>,
    /// Per endpoint: its vars, in order, and their templates' names.
    vars: Vec<Vec<(String, String)>>,
    templates: Templates,
    idle: Pool<SqlConn>,
    refused: prometheus::IntCounter,
    /// With `sslmode`: how sessions start TLS.
    tls: Option<MakeRustlsConnect>,
}

type Param = Box<dyn ToSql + Sync + Send>;

impl PostgresClient {
    pub fn new(target: Arc<Target>, refused: prometheus::IntCounter) -> Arc<Self> {
        let mut templates = Templates::new();
        // Compiled at `check` time already; a failure renders as an error.
        let mut add = |name: String, source: &str| {
            let _ = templates.add(&name, source);
            name
        };
        let mut params = Vec::new();
        let mut vars = Vec::new();
        for e in &target.endpoints {
            vars.push(
                e.sql
                    .vars
                    .iter()
                    .map(|(v, source)| (v.clone(), add(format!("{}.vars.{v}", e.name), source)))
                    .collect(),
            );
            params.push(
                e.sql
                    .statements
                    .iter()
                    .enumerate()
                    .map(|(j, st)| {
                        st.params
                            .iter()
                            .enumerate()
                            .map(|(i, p)| add(format!("{}.{j}.{i}", e.name), p))
                            .collect()
                    })
                    .collect(),
            );
        }
        let tls = target
            .login
            .as_ref()
            .filter(|l| l.sslmode != SslMode::Disable)
            // PostgreSQL 17 checks the ALPN a client offers; earlier servers ignore it.
            .map(|_| MakeRustlsConnect::new((*tls::target_config(&target, b"postgresql")).clone()));
        Arc::new(PostgresClient {
            idle: Pool::new(target.max_connections),
            tls,
            target,
            params,
            vars,
            templates,
            refused,
        })
    }

    /// Runs endpoint `idx` on `conn` (its statement, or its transaction: BEGIN, the
    /// statements, COMMIT, and ROLLBACK when one fails); the bytes of the rows returned.
    async fn run(&self, idx: usize, conn: &mut Session) -> Result<u64, RunError> {
        let vars = self.vars_for(idx).ok_or(RunError::Params)?;
        let statements = self.target.endpoints[idx].sql.statements.len();
        if !self.target.endpoints[idx].sql.transaction {
            return self.statement(idx, 0, conn, &vars).await;
        }
        conn.client.batch_execute("BEGIN").await?;
        let mut received = 0;
        for j in 0..statements {
            match self.statement(idx, j, conn, &vars).await {
                Ok(n) => received += n,
                Err(e) => {
                    // Leaves the session outside any transaction for its next request; if
                    // the session is gone, so is the transaction.
                    let _ = conn.client.batch_execute("ROLLBACK").await;
                    return Err(e);
                }
            }
        }
        conn.client.batch_execute("COMMIT").await?;
        Ok(received)
    }

    /// The variables endpoint `idx`'s parameters see: the next row of each feeder, then its
    /// vars rendered from them; None when a var does not render.
    fn vars_for(&self, idx: usize) -> Option<Vars> {
        let mut vars = Vars::new();
        for f in self.target.feeders.list.iter() {
            vars.set(f.name(), f.next());
        }
        for (name, template) in &self.vars[idx] {
            let value = self.templates.render(template, &vars).ok()?;
            vars.set(name, value);
        }
        Some(vars)
    }

    /// Runs statement `j` of endpoint `idx`, preparing it on first use in this session.
    async fn statement(
        &self,
        idx: usize,
        j: usize,
        conn: &mut Session,
        vars: &Vars,
    ) -> Result<u64, RunError> {
        let statement = match &conn.prepared[idx][j] {
            Some(s) => s.clone(),
            None => {
                let query = &self.target.endpoints[idx].sql.statements[j].query;
                let s = conn.client.prepare(query).await?;
                conn.prepared[idx][j] = Some(s.clone());
                s
            }
        };
        let params = self
            .params(&self.params[idx][j], statement.params(), vars)
            .ok_or(RunError::Params)?;
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let rows = conn.client.query(&statement, &refs).await?;
        Ok(rows
            .iter()
            .map(|row| {
                (0..row.len())
                    .filter_map(|i| row.try_get::<_, RawLen>(i).ok())
                    .map(|r| r.0)
                    .sum::<u64>()
            })
            .sum())
    }

    /// The parameters `names` rendered and converted to the statement's `types`; None when
    /// one does not render or convert (or their number differs from the statement's).
    fn params(&self, names: &[String], types: &[Type], vars: &Vars) -> Option<Vec<Param>> {
        if names.len() != types.len() {
            return None;
        }
        names
            .iter()
            .zip(types)
            .map(|(name, ty)| {
                let text = self.templates.render(name, vars).ok()?;
                typed(ty, text)
            })
            .collect()
    }

    async fn connect(&self) -> Result<SqlConn, ErrorKind> {
        let t = &self.target;
        let addrs = resolve_counted(t, &self.refused).await?;
        let login = t.login.as_ref().ok_or(ErrorKind::Other)?;
        let mut config = tokio_postgres::Config::new();
        // The address the allowlist passed, never the name again.
        config
            .hostaddr(addrs[0].ip())
            .port(addrs[0].port())
            .dbname(&login.dbname)
            .user(&login.user)
            .application_name("loadtide");
        if let Some(p) = &login.password {
            config.password(p);
        }
        // Refused, unreachable, or turned away by the server (unknown role or database, bad
        // password): no session. A failed handshake, or a server without TLS: `tls`.
        let failed = |e: tokio_postgres::Error| {
            if e.to_string().starts_with("error performing TLS handshake") {
                ErrorKind::Tls
            } else {
                ErrorKind::Connect
            }
        };
        let (client, driver): (Client, Driver) = match &self.tls {
            None => {
                let (client, connection) = config.connect(NoTls).await.map_err(failed)?;
                (client, Box::pin(async move { drop(connection.await) }))
            }
            Some(make) => {
                let tcp = TcpStream::connect(addrs[0])
                    .await
                    .map_err(|_| ErrorKind::Connect)?;
                let _ = tcp.set_nodelay(true);
                // The certificate must name the URL's host, not the address it resolved to.
                let Ok(tls) =
                    MakeTlsConnect::<TcpStream>::make_tls_connect(&mut make.clone(), &t.host);
                config.ssl_mode(tokio_postgres::config::SslMode::Require);
                let (client, connection) = config.connect_raw(tcp, tls).await.map_err(failed)?;
                (client, Box::pin(async move { drop(connection.await) }))
            }
        };
        Ok(SqlConn {
            session: Session {
                client,
                prepared: t
                    .endpoints
                    .iter()
                    .map(|e| vec![None; e.sql.statements.len()])
                    .collect(),
            },
            driver,
        })
    }
}

/// A parameter as the server typed it; text for the text types and as a fallback the server
/// may cast (`$1::text::date`).
fn typed(ty: &Type, text: String) -> Option<Param> {
    Some(match *ty {
        Type::BOOL => Box::new(text.trim().parse::<bool>().ok()?),
        Type::INT2 => Box::new(text.trim().parse::<i16>().ok()?),
        Type::INT4 => Box::new(text.trim().parse::<i32>().ok()?),
        Type::INT8 => Box::new(text.trim().parse::<i64>().ok()?),
        Type::FLOAT4 => Box::new(text.trim().parse::<f32>().ok()?),
        Type::FLOAT8 => Box::new(text.trim().parse::<f64>().ok()?),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => Box::new(text),
        _ => return None,
    })
}

/// Why a statement did not run.
enum RunError {
    /// A parameter did not render, or not to its type, or their count is not the statement's.
    Params,
    Sql(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for RunError {
    fn from(e: tokio_postgres::Error) -> Self {
        RunError::Sql(e)
    }
}

/// The size of one value as the server sent it, whatever its type.
struct RawLen(u64);

impl<'a> FromSql<'a> for RawLen {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawLen(raw.len() as u64))
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawLen(0))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

impl Transport for PostgresClient {
    type Conn = SqlConn;

    fn target(&self) -> &Target {
        &self.target
    }

    fn pool(&self) -> &Pool<SqlConn> {
        &self.idle
    }

    fn reusable(conn: &SqlConn) -> bool {
        !conn.session.client.is_closed()
    }

    async fn exchange(&self, idx: usize, slot: &mut Option<SqlConn>) -> Result<Outcome, ErrorKind> {
        // A kept session's connection has not been polled since its last request: one poll
        // reads what arrived meanwhile, and a server that closed it is noticed here, before
        // the request, so it reconnects instead of failing.
        let kept = slot
            .take()
            .filter(Self::reusable)
            .and_then(|mut c| c.driver.as_mut().now_or_never().is_none().then_some(c));
        let mut conn = match kept {
            Some(c) => c,
            None => self.connect().await?,
        };
        let result = {
            let SqlConn { session, driver } = &mut conn;
            let work = self.run(idx, session);
            tokio::pin!(work);
            tokio::select! {
                biased;
                result = &mut work => result,
                // The connection ended (closed by the server, or broken) before the work did.
                () = driver.as_mut() => return Err(ErrorKind::Reset),
            }
        };
        let outcome = match result {
            Ok(received) => Outcome::replied(Code::Named(NamedCode::OK), None, received),
            // Never sent: the config's template does not give the statement's types.
            Err(RunError::Params) => Outcome::failed(ErrorKind::Other),
            Err(RunError::Sql(e)) => match e.as_db_error() {
                // The server answered. Unless the error is FATAL (the server ends the session
                // after it: an administrator's terminate, a shutdown), the session goes on.
                Some(db) => {
                    let outcome = Outcome::replied(
                        Code::Named(NamedCode::of(db.code().code().get(..2).unwrap_or(""))),
                        Some(ErrorKind::Status),
                        0,
                    );
                    if matches!(db.severity(), "FATAL" | "PANIC") {
                        return Ok(outcome);
                    }
                    outcome
                }
                None if e.is_closed() => return Err(ErrorKind::Reset),
                None => Outcome::failed(ErrorKind::Protocol),
            },
        };
        *slot = Some(conn);
        Ok(outcome)
    }
}
