//! Statements of units of work, on either engine. A unit is a plain function of a `Conn`: it
//! runs statements written with `?` placeholders (`?N` to repeat one), binds values through
//! `params!` and reads columns by index, and the same unit runs on SQLite (rusqlite, on the
//! writer's thread) and on PostgreSQL (sqlx, driven from the same thread).

use sqlx::postgres::{PgConnection, PgRow};
use sqlx::{Column as _, Row as _, TypeInfo, ValueRef as _};
use std::borrow::Cow;
use std::cell::RefCell;

/// A connection units of work run their statements on.
pub struct Conn {
    engine: Engine,
}

enum Engine {
    Sqlite(rusqlite::Connection),
    Postgres(RefCell<PgSession>),
}

/// A PostgreSQL connection and the runtime that drives its socket: statements are awaited on
/// it from the (synchronous) thread the unit runs on.
struct PgSession {
    runtime: tokio::runtime::Runtime,
    conn: PgConnection,
}

impl Conn {
    pub fn sqlite(conn: rusqlite::Connection) -> Conn {
        Conn { engine: Engine::Sqlite(conn) }
    }

    /// Connects to PostgreSQL on a runtime of the calling thread's own; not to be called from
    /// inside an async task.
    pub fn postgres(options: &sqlx::postgres::PgConnectOptions, timeout: std::time::Duration) -> Result<Conn, sqlx::Error> {
        use sqlx::ConnectOptions;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let conn = runtime
            .block_on(async { tokio::time::timeout(timeout, options.connect()).await })
            .map_err(|_| sqlx::Error::PoolTimedOut)??;
        Ok(Conn { engine: Engine::Postgres(RefCell::new(PgSession { runtime, conn })) })
    }

    /// The SQLite connection, for what only SQLite has (its pragmas, its transaction state).
    pub fn as_sqlite(&self) -> Option<&rusqlite::Connection> {
        match &self.engine {
            Engine::Sqlite(conn) => Some(conn),
            Engine::Postgres(_) => None,
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.engine, Engine::Postgres(_))
    }
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_postgres() { "Conn(PostgreSQL)" } else { "Conn(SQLite)" })
    }
}

/// A value bound to a placeholder. Nulls keep their type: PostgreSQL wants one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    Int(Option<i64>),
    Real(Option<f64>),
    Text(Option<&'a str>),
    Blob(Option<&'a [u8]>),
}

/// What can be bound to a placeholder.
pub trait Param {
    fn value(&self) -> Value<'_>;
}

macro_rules! param {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {
        $(impl Param for $t {
            fn value(&self) -> Value<'_> {
                let $v = self;
                $e
            }
        })*
    };
}

param! {
    i64 => |v| Value::Int(Some(*v)),
    i32 => |v| Value::Int(Some(i64::from(*v))),
    u32 => |v| Value::Int(Some(i64::from(*v))),
    bool => |v| Value::Int(Some(i64::from(*v))),
    f64 => |v| Value::Real(Some(*v)),
    str => |v| Value::Text(Some(v)),
    String => |v| Value::Text(Some(v)),
    [u8] => |v| Value::Blob(Some(v)),
    Vec<u8> => |v| Value::Blob(Some(v)),
    Option<i64> => |v| Value::Int(*v),
    Option<bool> => |v| Value::Int(v.map(i64::from)),
    Option<f64> => |v| Value::Real(*v),
    Option<&str> => |v| Value::Text(*v),
    Option<String> => |v| Value::Text(v.as_deref()),
    Option<Vec<u8>> => |v| Value::Blob(v.as_deref()),
}

impl<T: Param + ?Sized> Param for &T {
    fn value(&self) -> Value<'_> {
        (**self).value()
    }
}

/// The values of a statement's placeholders, in order: `params![a, b, c]`.
#[macro_export]
macro_rules! params {
    ($($value:expr),* $(,)?) => {
        &[$(&$value as &dyn $crate::backend::store::Param),*] as &[&dyn $crate::backend::store::Param]
    };
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::ValueRef;
        let value = match *self {
            Value::Int(Some(v)) => ValueRef::Integer(v),
            Value::Real(Some(v)) => ValueRef::Real(v),
            Value::Text(Some(v)) => ValueRef::Text(v.as_bytes()),
            Value::Blob(Some(v)) => ValueRef::Blob(v),
            Value::Int(None) | Value::Real(None) | Value::Text(None) | Value::Blob(None) => ValueRef::Null,
        };
        Ok(rusqlite::types::ToSqlOutput::Borrowed(value))
    }
}

/// Why a statement failed.
#[derive(Debug)]
pub enum SqlError {
    Sqlite(rusqlite::Error),
    Postgres(sqlx::Error),
    /// A statement that had to return a row returned none.
    NoRows,
    /// A column did not hold what the unit reads it as.
    Column { index: usize, message: String },
}

pub type SqlResult<T> = Result<T, SqlError>;

impl SqlError {
    /// Whether the connection is known to be fine after this error (a missing row, a column
    /// read as the wrong type, a statement PostgreSQL refused); otherwise it is replaced.
    pub fn leaves_connection_usable(&self) -> bool {
        match self {
            SqlError::NoRows | SqlError::Column { .. } => true,
            SqlError::Postgres(e) => matches!(e, sqlx::Error::Database(_)) && !is_connection_lost(e),
            SqlError::Sqlite(_) => false,
        }
    }

    /// Whether the database server went away under this statement (see `is_connection_lost`).
    pub fn is_connection_lost(&self) -> bool {
        matches!(self, SqlError::Postgres(e) if is_connection_lost(e))
    }
}

/// Whether an error means the database server cannot be reached (its connection broke, or it
/// is shutting down or starting up) rather than that a statement was wrong: SQLSTATE class 08
/// (connection exception) and 57P01–57P03 (admin, crash shutdown; cannot connect now).
pub fn is_connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(e) => {
            let code = e.code();
            let code = code.as_deref().unwrap_or("");
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
        }
        _ => false,
    }
}

impl From<rusqlite::Error> for SqlError {
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::QueryReturnedNoRows => SqlError::NoRows,
            e => SqlError::Sqlite(e),
        }
    }
}

impl From<sqlx::Error> for SqlError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => SqlError::NoRows,
            e => SqlError::Postgres(e),
        }
    }
}

impl std::fmt::Display for SqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SqlError::Sqlite(e) => e.fmt(f),
            SqlError::Postgres(e) => e.fmt(f),
            SqlError::NoRows => f.write_str("the statement returned no row"),
            SqlError::Column { index, message } => write!(f, "column {index}: {message}"),
        }
    }
}

impl std::error::Error for SqlError {}

impl From<SqlError> for sqlx::Error {
    /// Callers see sqlx's error whichever engine ran the statement, so they tell a
    /// constraint failure (a duplicate email, say) from any other the same way.
    fn from(e: SqlError) -> Self {
        match e {
            SqlError::Sqlite(e) => sqlx::Error::Database(Box::new(super::StatementError::from(e))),
            SqlError::Postgres(e) => e,
            SqlError::NoRows => sqlx::Error::RowNotFound,
            SqlError::Column { index, message } => {
                sqlx::Error::ColumnDecode { index: index.to_string(), source: message.into() }
            }
        }
    }
}

/// `.optional()`: a statement's missing row as `None`.
pub trait Optional<T> {
    fn optional(self) -> SqlResult<Option<T>>;
}

impl<T> Optional<T> for SqlResult<T> {
    fn optional(self) -> SqlResult<Option<T>> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(SqlError::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// One column's value as read from a row.
#[derive(Debug, PartialEq)]
pub enum Cell<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(Cow<'a, str>),
    Blob(Cow<'a, [u8]>),
}

/// What a column can be read as.
pub trait Column: Sized {
    fn from_cell(cell: Cell<'_>) -> Result<Self, String>;
}

/// Names what the column held, never its value: it may be a password hash or a sealed secret,
/// and the message goes to the log.
fn mismatch<T>(wanted: &str, cell: &Cell<'_>) -> Result<T, String> {
    let found = match cell {
        Cell::Null => "null",
        Cell::Int(_) => "an integer",
        Cell::Real(_) => "a real number",
        Cell::Text(_) => "text",
        Cell::Blob(_) => "bytes",
    };
    Err(format!("expected {wanted}, found {found}"))
}

impl Column for i64 {
    fn from_cell(cell: Cell<'_>) -> Result<Self, String> {
        match cell {
            Cell::Int(v) => Ok(v),
            other => mismatch("an integer", &other),
        }
    }
}

impl Column for bool {
    fn from_cell(cell: Cell<'_>) -> Result<Self, String> {
        match cell {
            Cell::Int(v) => Ok(v != 0),
            other => mismatch("a flag", &other),
        }
    }
}

impl Column for f64 {
    fn from_cell(cell: Cell<'_>) -> Result<Self, String> {
        match cell {
            Cell::Real(v) => Ok(v),
            Cell::Int(v) => Ok(v as f64),
            other => mismatch("a number", &other),
        }
    }
}

impl Column for String {
    fn from_cell(cell: Cell<'_>) -> Result<Self, String> {
        match cell {
            Cell::Text(v) => Ok(v.into_owned()),
            other => mismatch("text", &other),
        }
    }
}

impl Column for Vec<u8> {
    fn from_cell(cell: Cell<'_>) -> Result<Self, String> {
        match cell {
            Cell::Blob(v) => Ok(v.into_owned()),
            other => mismatch("bytes", &other),
        }
    }
}

impl<T: Column> Column for Option<T> {
    fn from_cell(cell: Cell<'_>) -> Result<Self, String> {
        match cell {
            Cell::Null => Ok(None),
            other => T::from_cell(other).map(Some),
        }
    }
}

/// A row a statement returned.
pub enum Row<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Postgres(&'a PgRow),
}

impl Row<'_> {
    /// Column `index` (from 0) as a `T`.
    pub fn get<T: Column>(&self, index: usize) -> SqlResult<T> {
        let cell = match self {
            Row::Sqlite(row) => sqlite_cell(row.get_ref(index)?),
            Row::Postgres(row) => postgres_cell(row, index)?,
        };
        T::from_cell(cell).map_err(|message| SqlError::Column { index, message })
    }

    /// Column `index`, a text, handed to `read` without being copied first (a word read to
    /// pick an enum need not become a `String`).
    pub fn with_text<T>(&self, index: usize, read: impl FnOnce(&str) -> T) -> SqlResult<T> {
        let cell = match self {
            Row::Sqlite(row) => sqlite_cell(row.get_ref(index)?),
            Row::Postgres(row) => postgres_cell(row, index)?,
        };
        match cell {
            Cell::Text(text) => Ok(read(&text)),
            _ => Err(SqlError::Column { index, message: "not a text".into() }),
        }
    }

    /// Column `index` as a type that parses its text (a word stored for an enum).
    pub fn parsed<T: TryFrom<String, Error = String>>(&self, index: usize) -> SqlResult<T> {
        T::try_from(self.get::<String>(index)?).map_err(|message| SqlError::Column { index, message })
    }
}

fn sqlite_cell(value: rusqlite::types::ValueRef<'_>) -> Cell<'_> {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(v) => Cell::Int(v),
        ValueRef::Real(v) => Cell::Real(v),
        ValueRef::Text(v) => Cell::Text(String::from_utf8_lossy(v)),
        ValueRef::Blob(v) => Cell::Blob(Cow::Borrowed(v)),
    }
}

fn postgres_cell(row: &PgRow, index: usize) -> SqlResult<Cell<'_>> {
    use sqlx::Decode;
    type Pg = sqlx::Postgres;
    let raw = row.try_get_raw(index)?;
    if raw.is_null() {
        return Ok(Cell::Null);
    }
    let column = |source: sqlx::error::BoxDynError| SqlError::Column { index, message: source.to_string() };
    let type_name = raw.type_info().name().to_string();
    let cell = match type_name.as_str() {
        "INT8" => Cell::Int(<i64 as Decode<Pg>>::decode(raw).map_err(column)?),
        "INT4" => Cell::Int(<i32 as Decode<Pg>>::decode(raw).map_err(column)?.into()),
        "INT2" => Cell::Int(<i16 as Decode<Pg>>::decode(raw).map_err(column)?.into()),
        "BOOL" => Cell::Int(<bool as Decode<Pg>>::decode(raw).map_err(column)?.into()),
        "FLOAT8" => Cell::Real(<f64 as Decode<Pg>>::decode(raw).map_err(column)?),
        "FLOAT4" => Cell::Real(<f32 as Decode<Pg>>::decode(raw).map_err(column)?.into()),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "citext" | "CITEXT" => Cell::Text(Cow::Borrowed(<&str as Decode<Pg>>::decode(raw).map_err(column)?)),
        "BYTEA" => Cell::Blob(Cow::Borrowed(<&[u8] as Decode<Pg>>::decode(raw).map_err(column)?)),
        other => {
            let name = row.columns().get(index).map_or("?", |c| c.name());
            return Err(SqlError::Column { index, message: format!("column {name} has type {other}, which units do not read") });
        }
    };
    Ok(cell)
}

/// A statement's `?` placeholders as PostgreSQL's `$N`: `?` is the next number, `?N` is `$N`.
/// Quoted text and names are left alone.
fn numbered_placeholders(sql: &str) -> Cow<'_, str> {
    if !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut next = 0;
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '?') => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                if digits.is_empty() {
                    next += 1;
                    digits = next.to_string();
                }
                out.push('$');
                out.push_str(&digits);
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    Cow::Owned(out)
}

fn postgres_query<'q>(sql: &'q str, params: &'q [&'q dyn Param]) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let mut query = sqlx::query(sql);
    for param in params {
        query = match param.value() {
            Value::Int(v) => query.bind(v),
            Value::Real(v) => query.bind(v),
            Value::Text(v) => query.bind(v),
            Value::Blob(v) => query.bind(v),
        };
    }
    query
}

fn sqlite_params<'p>(params: &'p [&'p dyn Param]) -> impl rusqlite::Params + 'p {
    rusqlite::params_from_iter(params.iter().map(|p| p.value()))
}

/// Runs one statement; returns how many rows it changed. On SQLite it is prepared once per
/// connection and reused (sqlx does the same on PostgreSQL).
pub fn execute(conn: &Conn, sql: &str, params: &[&dyn Param]) -> SqlResult<usize> {
    match &conn.engine {
        Engine::Sqlite(c) => Ok(c.prepare_cached(sql)?.execute(sqlite_params(params))?),
        Engine::Postgres(session) => {
            let session = &mut *session.borrow_mut();
            let sql = numbered_placeholders(sql);
            let done = session.runtime.block_on(postgres_query(&sql, params).execute(&mut session.conn))?;
            Ok(done.rows_affected() as usize)
        }
    }
}

/// Runs a statement that returns one row (such as an `INSERT … RETURNING id`) and reads it
/// with `read`; no row is `SqlError::NoRows` (see `Optional`).
pub fn query_row<T>(
    conn: &Conn,
    sql: &str,
    params: &[&dyn Param],
    read: impl FnOnce(&Row<'_>) -> SqlResult<T>,
) -> SqlResult<T> {
    match &conn.engine {
        Engine::Sqlite(c) => {
            let mut statement = c.prepare_cached(sql)?;
            let mut rows = statement.query(sqlite_params(params))?;
            match rows.next()? {
                Some(row) => read(&Row::Sqlite(row)),
                None => Err(SqlError::NoRows),
            }
        }
        Engine::Postgres(session) => {
            let session = &mut *session.borrow_mut();
            let sql = numbered_placeholders(sql);
            let row = session.runtime.block_on(postgres_query(&sql, params).fetch_optional(&mut session.conn))?;
            match row {
                Some(row) => read(&Row::Postgres(&row)),
                None => Err(SqlError::NoRows),
            }
        }
    }
}

/// Runs a statement and reads every row it returns with `read`.
pub fn query_map<T>(
    conn: &Conn,
    sql: &str,
    params: &[&dyn Param],
    mut read: impl FnMut(&Row<'_>) -> SqlResult<T>,
) -> SqlResult<Vec<T>> {
    let mut out = Vec::new();
    match &conn.engine {
        Engine::Sqlite(c) => {
            let mut statement = c.prepare_cached(sql)?;
            let mut rows = statement.query(sqlite_params(params))?;
            while let Some(row) = rows.next()? {
                out.push(read(&Row::Sqlite(row))?);
            }
        }
        Engine::Postgres(session) => {
            let session = &mut *session.borrow_mut();
            let sql = numbered_placeholders(sql);
            let rows = session.runtime.block_on(postgres_query(&sql, params).fetch_all(&mut session.conn))?;
            for row in &rows {
                out.push(read(&Row::Postgres(row))?);
            }
        }
    }
    Ok(out)
}

/// Runs a statement and hands its rows to `visit` one at a time, as they come (a whole audit
/// chain need not fit in memory); `visit` returns false to stop early.
pub fn query_each(
    conn: &Conn,
    sql: &str,
    params: &[&dyn Param],
    mut visit: impl FnMut(&Row<'_>) -> SqlResult<bool>,
) -> SqlResult<()> {
    match &conn.engine {
        Engine::Sqlite(c) => {
            let mut statement = c.prepare_cached(sql)?;
            let mut rows = statement.query(sqlite_params(params))?;
            while let Some(row) = rows.next()? {
                if !visit(&Row::Sqlite(row))? {
                    break;
                }
            }
            Ok(())
        }
        Engine::Postgres(session) => {
            use futures::TryStreamExt;
            let session = &mut *session.borrow_mut();
            let sql = numbered_placeholders(sql);
            let PgSession { runtime, conn } = session;
            runtime.block_on(async {
                let mut rows = postgres_query(&sql, params).fetch(conn);
                while let Some(row) = rows.try_next().await? {
                    if !visit(&Row::Postgres(&row))? {
                        break;
                    }
                }
                Ok(())
            })
        }
    }
}

/// Runs statements without placeholders, such as the writer's `BEGIN` and `COMMIT`.
pub fn batch(conn: &Conn, sql: &str) -> SqlResult<()> {
    match &conn.engine {
        Engine::Sqlite(c) => Ok(c.execute_batch(sql)?),
        Engine::Postgres(session) => {
            use sqlx::Executor;
            let session = &mut *session.borrow_mut();
            session.runtime.block_on(session.conn.execute(sql))?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_order_and_kept_when_numbered() {
        assert_eq!(numbered_placeholders("SELECT 1"), "SELECT 1");
        assert_eq!(numbered_placeholders("UPDATE t SET a = ?, b = ? WHERE c = ?"), "UPDATE t SET a = $1, b = $2 WHERE c = $3");
        assert_eq!(numbered_placeholders("WHERE a = ?1 AND (?2 IS NULL OR b = ?2)"), "WHERE a = $1 AND ($2 IS NULL OR b = $2)");
    }

    #[test]
    fn question_marks_in_quotes_stay() {
        assert_eq!(numbered_placeholders("SELECT '?', \"a?\" FROM t WHERE x = ?"), "SELECT '?', \"a?\" FROM t WHERE x = $1");
        assert_eq!(numbered_placeholders("SELECT 'it''s ?' WHERE x = ?"), "SELECT 'it''s ?' WHERE x = $1");
    }

    #[test]
    fn columns_read_what_they_hold_and_refuse_the_rest() {
        assert_eq!(i64::from_cell(Cell::Int(7)), Ok(7));
        assert_eq!(bool::from_cell(Cell::Int(1)), Ok(true));
        assert_eq!(Option::<String>::from_cell(Cell::Null), Ok(None));
        assert_eq!(String::from_cell(Cell::Text("a".into())), Ok("a".to_string()));
        assert!(i64::from_cell(Cell::Text("7".into())).is_err());
        assert!(i64::from_cell(Cell::Null).is_err());
        let refused = String::from_cell(Cell::Int(42)).unwrap_err() + &i64::from_cell(Cell::Text("$argon2id$secret".into())).unwrap_err();
        assert!(!refused.contains("42") && !refused.contains("secret"), "a column's value stays out of the message: {refused}");
    }

    #[test]
    fn the_same_unit_runs_on_sqlite() {
        let conn = Conn::sqlite(rusqlite::Connection::open_in_memory().unwrap());
        batch(&conn, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, flag INTEGER, note TEXT)").unwrap();
        let none: Option<&str> = None;
        let id: i64 = query_row(&conn, "INSERT INTO t (name, flag, note) VALUES (?, ?, ?) RETURNING id", params!["a", true, none], |r| r.get(0)).unwrap();
        assert_eq!(execute(&conn, "UPDATE t SET name = ?2 WHERE id = ?1", params![id, "b"]).unwrap(), 1);
        let rows = query_map(&conn, "SELECT name, flag, note FROM t", params![], |r| Ok((r.get::<String>(0)?, r.get::<bool>(1)?, r.get::<Option<String>>(2)?))).unwrap();
        assert_eq!(rows, vec![("b".to_string(), true, None)]);
        let missing = query_row(&conn, "SELECT id FROM t WHERE id = ?", params![id + 1], |r| r.get::<i64>(0)).optional().unwrap();
        assert_eq!(missing, None);
        let mut seen = Vec::new();
        query_each(&conn, "SELECT id FROM t UNION ALL SELECT 99 ORDER BY 1", params![], |r| {
            seen.push(r.get::<i64>(0)?);
            Ok(false)
        })
        .unwrap();
        assert_eq!(seen, vec![id], "stops when told");
    }
}
