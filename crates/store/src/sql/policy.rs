//! [`PolicyStore`] over the common SQL of both backends.

use super::*;
use crate::policy::{NewPolicyVersion, PolicyStore, PolicyVersion};

const FULL: &str = "SELECT version, created_at, actor, action, message, digest, mode, files, exceptions, bundle FROM policy_versions";
const BRIEF: &str = "SELECT version, created_at, actor, action, message, digest, mode, '', '', NULL FROM policy_versions";

fn version_row(r: &Row) -> Result<PolicyVersion> {
    Ok(PolicyVersion {
        version: int(r, 0, "version")?,
        created_at: int(r, 1, "created_at")?,
        actor: text(r, 2, "actor")?,
        action: text(r, 3, "action")?,
        message: text(r, 4, "message")?,
        digest: text(r, 5, "digest")?,
        mode: text(r, 6, "mode")?,
        files: text(r, 7, "files")?,
        exceptions: text(r, 8, "exceptions")?,
        bundle: match r.get(9) {
            Some(V::Null) | None => Vec::new(),
            _ => blob(r, 9, "bundle")?,
        },
    })
}

impl<B: Backend> PolicyStore for SqlStore<B> {
    fn policy_insert(&self, v: &NewPolicyVersion) -> Result<bool> {
        self.b.with_conn(true, |c| {
            tx(c, |c| {
                if c.row(
                    "SELECT version FROM policy_versions WHERE version = ?",
                    &[V::I(v.version)],
                )?
                .is_some()
                {
                    return Ok(false);
                }
                c.exec(
                    "INSERT INTO policy_versions (version, created_at, actor, action, message, digest, mode, files, exceptions, bundle) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    &[
                        V::I(v.version),
                        V::I(v.created_at),
                        (&v.actor).into(),
                        (&v.action).into(),
                        (&v.message).into(),
                        (&v.digest).into(),
                        (&v.mode).into(),
                        (&v.files).into(),
                        (&v.exceptions).into(),
                        V::B(v.bundle.clone()),
                    ],
                )?;
                Ok(true)
            })
        })
    }

    fn policy_latest(&self) -> Result<Option<PolicyVersion>> {
        self.b.with_conn(false, |c| {
            c.row(&format!("{FULL} ORDER BY version DESC LIMIT 1"), &[])?
                .map(|r| version_row(&r))
                .transpose()
        })
    }

    fn policy_version(&self, version: i64) -> Result<Option<PolicyVersion>> {
        self.b.with_conn(false, |c| {
            c.row(&format!("{FULL} WHERE version = ?"), &[V::I(version)])?
                .map(|r| version_row(&r))
                .transpose()
        })
    }

    fn policy_history(&self) -> Result<Vec<PolicyVersion>> {
        self.b.with_conn(false, |c| {
            c.rows(&format!("{BRIEF} ORDER BY version DESC"), &[])?
                .iter()
                .map(version_row)
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::{NewPolicyVersion, Store};

    fn story(store: &dyn Store) {
        assert!(store.policy_latest().unwrap().is_none());
        let v = |n: i64| NewPolicyVersion {
            version: n,
            created_at: 100 + n,
            actor: "cli".into(),
            action: "import".into(),
            message: format!("v{n}"),
            digest: "d".repeat(64),
            mode: "plain".into(),
            files: "[]".into(),
            exceptions: "[]".into(),
            bundle: vec![n as u8; 3],
        };
        assert!(store.policy_insert(&v(1)).unwrap());
        assert!(store.policy_insert(&v(2)).unwrap());
        assert!(
            !store.policy_insert(&v(2)).unwrap(),
            "a version is never rewritten"
        );
        let latest = store.policy_latest().unwrap().unwrap();
        assert_eq!((latest.version, latest.bundle.clone()), (2, vec![2, 2, 2]));
        assert_eq!(store.policy_version(1).unwrap().unwrap().message, "v1");
        let h = store.policy_history().unwrap();
        assert_eq!(h.iter().map(|x| x.version).collect::<Vec<_>>(), vec![2, 1]);
        assert!(h[0].bundle.is_empty() && h[0].files.is_empty());
    }

    #[test]
    fn policy_versions_sqlite() {
        let d = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", d.path().join("c.db").display());
        story(&*crate::open(&url).unwrap());
    }

    #[test]
    fn policy_versions_postgres() {
        if let Some(url) = crate::testing::fresh_pg_url("policy") {
            story(&*crate::open(&url).unwrap());
        }
    }
}
