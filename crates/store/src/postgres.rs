//! PostgreSQL backend, for several collector processes on one database.
//! A small pool of synchronous `postgres` clients (no TLS: meant for a
//! loopback or private-network database; put TLS in front otherwise), a
//! prepared-statement cache per client, `?` placeholders numbered `$n`.
//! Ingest serialises per agent with `SELECT … FOR UPDATE` on the agent row.

use crate::sql::{Backend, Conn, Dialect, V};
use crate::{Result, StoreError};
use ::postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use ::postgres::{Client, NoTls, Statement};
use std::collections::HashMap;
use std::sync::Mutex;

static MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_init.sql")),
    (
        2,
        include_str!("../migrations/postgres/0002_findings_open.sql"),
    ),
    (
        3,
        include_str!("../migrations/postgres/0003_scope_merge.sql"),
    ),
    (4, include_str!("../migrations/postgres/0004_console.sql")),
    (5, include_str!("../migrations/postgres/0005_policy.sql")),
    (
        6,
        include_str!("../migrations/postgres/0006_host_policy.sql"),
    ),
];

pub(crate) struct Postgres {
    url: String,
    pool: Mutex<Vec<PgConn>>,
}

pub(crate) struct PgConn {
    client: Client,
    cache: HashMap<String, Statement>,
}

impl Postgres {
    pub(crate) fn open(url: &str) -> Result<Postgres> {
        let first = Self::connect(url)?;
        Ok(Postgres {
            url: url.to_string(),
            pool: Mutex::new(vec![first]),
        })
    }

    fn connect(url: &str) -> Result<PgConn> {
        let client = Client::connect(url, NoTls)?;
        Ok(PgConn {
            client,
            cache: HashMap::new(),
        })
    }
}

impl Backend for Postgres {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn with_conn<R>(&self, _write: bool, f: impl FnOnce(&mut dyn Conn) -> Result<R>) -> Result<R> {
        let pooled = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match pooled {
            Some(c) if !c.client.is_closed() => c,
            _ => Self::connect(&self.url)?,
        };
        let out = f(&mut conn);
        if !conn.client.is_closed() {
            let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < 16 {
                pool.push(conn);
            }
        }
        out
    }

    fn migrations(&self) -> &'static [(i64, &'static str)] {
        MIGRATIONS
    }
}

impl ToSql for V {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            V::Null => Ok(IsNull::Yes),
            V::I(i) if *ty == Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
            V::I(i) => i.to_sql(ty, out),
            V::T(s) => s.to_sql(ty, out),
            V::B(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// `?` → `$1`, `$2`, … (the SQL in this crate has no `?` inside literals).
fn number(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(ch);
        }
    }
    out
}

impl PgConn {
    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.cache.get(sql) {
            return Ok(s.clone());
        }
        let st = self.client.prepare(&number(sql))?;
        if self.cache.len() > 256 {
            self.cache.clear();
        }
        self.cache.insert(sql.to_string(), st.clone());
        Ok(st)
    }
}

fn params(p: &[V]) -> Vec<&(dyn ToSql + Sync)> {
    p.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

impl Conn for PgConn {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn exec(&mut self, sql: &str, p: &[V]) -> Result<u64> {
        let st = self.statement(sql)?;
        Ok(self.client.execute(&st, &params(p))?)
    }

    fn rows(&mut self, sql: &str, p: &[V]) -> Result<Vec<Vec<V>>> {
        let st = self.statement(sql)?;
        let rows = self.client.query(&st, &params(p))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let mut row = Vec::with_capacity(r.len());
            for (i, col) in r.columns().iter().enumerate() {
                let ty = col.type_();
                let v = if *ty == Type::INT8 {
                    r.try_get::<_, Option<i64>>(i)?.map(V::I)
                } else if *ty == Type::INT4 {
                    r.try_get::<_, Option<i32>>(i)?.map(|v| V::I(v.into()))
                } else if *ty == Type::BOOL {
                    r.try_get::<_, Option<bool>>(i)?.map(|v| V::I(v.into()))
                } else if *ty == Type::BYTEA {
                    r.try_get::<_, Option<Vec<u8>>>(i)?.map(V::B)
                } else if *ty == Type::TEXT || *ty == Type::VARCHAR || *ty == Type::NAME {
                    r.try_get::<_, Option<String>>(i)?.map(V::T)
                } else if *ty == Type::VOID {
                    None
                } else {
                    return Err(StoreError::Column("unsupported PostgreSQL column type"));
                };
                row.push(v.unwrap_or(V::Null));
            }
            out.push(row);
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        Ok(self.client.batch_execute(sql)?)
    }

    fn begin(&mut self) -> Result<()> {
        self.batch("BEGIN")
    }

    fn is_unique_violation(&self, err: &StoreError) -> bool {
        matches!(err, StoreError::Postgres(e)
            if e.code() == Some(&::postgres::error::SqlState::UNIQUE_VIOLATION))
    }
}
