//! A registry value as the Windows checks judge it: a string
//! (`REG_SZ`/`REG_EXPAND_SZ`), a `REG_DWORD`, or another type (kept by its
//! type number so the evidence can say what was found). Portable so the
//! judging logic is tested on any host.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegValue {
    Sz(String),
    Dword(u32),
    /// Any other type (`REG_BINARY` = 3, …).
    Other(u32),
}

impl RegValue {
    /// For the evidence.
    pub fn shown(&self) -> Value {
        match self {
            RegValue::Sz(s) => Value::from(s.clone()),
            RegValue::Dword(n) => Value::from(*n),
            RegValue::Other(t) => Value::from(format!("(value of registry type {t})")),
        }
    }

    /// The value as an integer the way the shell reads these settings:
    /// a DWORD, or a string of decimal digits (`"600"`). `Err` for
    /// anything else.
    pub fn as_int(&self) -> Result<i64, String> {
        match self {
            RegValue::Dword(n) => Ok(i64::from(*n)),
            RegValue::Sz(s) => s
                .trim()
                .trim_end_matches('\0')
                .parse::<i64>()
                .map_err(|_| format!("`{s}` is not a number")),
            RegValue::Other(t) => Err(format!("registry type {t} where a number was expected")),
        }
    }
}
