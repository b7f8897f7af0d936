//! The dashboard's users: names with argon2id password hashes, kept in the store.

use std::collections::BTreeMap;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError};

/// The store state the users live in.
const STATE: &str = "web_users";
/// Shorter passwords are refused.
pub const MIN_PASSWORD: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("user `{0}` already exists (change the password with `nomhub user passwd`)")]
    Exists(String),
    #[error("no user `{0}`")]
    Unknown(String),
    #[error("a user name is 1 to 32 letters, digits, `.`, `_` or `-`; `{0}` is not")]
    BadName(String),
    #[error("a password needs at least {MIN_PASSWORD} characters")]
    ShortPassword,
    #[error("hashing the password: {0}")]
    Hash(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct User {
    /// The PHC string of an argon2id hash; a session remembers it, so a new
    /// password ends every older session.
    hash: String,
}

fn all(store: &Store) -> Result<BTreeMap<String, User>, StoreError> {
    Ok(store.state(STATE)?.unwrap_or_default())
}

fn hash(password: &str) -> Result<String, UserError> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(UserError::ShortPassword);
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| UserError::Hash(e.to_string()))
}

fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Adds a user.
pub fn add(store: &Store, name: &str, password: &str) -> Result<(), UserError> {
    if !valid_name(name) {
        return Err(UserError::BadName(name.to_owned()));
    }
    let mut users = all(store)?;
    if users.contains_key(name) {
        return Err(UserError::Exists(name.to_owned()));
    }
    users.insert(
        name.to_owned(),
        User {
            hash: hash(password)?,
        },
    );
    Ok(store.set_state(STATE, &users)?)
}

/// Sets a user's password; every session from before ends.
pub fn set_password(store: &Store, name: &str, password: &str) -> Result<(), UserError> {
    let mut users = all(store)?;
    let user = users
        .get_mut(name)
        .ok_or_else(|| UserError::Unknown(name.to_owned()))?;
    user.hash = hash(password)?;
    Ok(store.set_state(STATE, &users)?)
}

/// Gives the memory a password check used (some 19 MiB) back to the system. glibc keeps a
/// freed block that large in its heap once it has seen one (its mmap threshold follows
/// the largest block freed), so without this a login flood leaves the process hundreds of
/// MiB larger for good (`cargo bench --bench login`).
#[allow(unsafe_code)]
pub fn give_back_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the kernel; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The user's current hash when `password` is theirs (the session's stamp).
pub fn verify(store: &Store, name: &str, password: &str) -> Result<Option<String>, StoreError> {
    let users = all(store)?;
    let Some(user) = users.get(name) else {
        // As slow as a real check, so the answer's time does not tell who exists.
        hash("x".repeat(MIN_PASSWORD).as_str()).ok();
        return Ok(None);
    };
    let ok = PasswordHash::new(&user.hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    });
    Ok(ok.then(|| user.hash.clone()))
}

/// The user's current hash (None: the user is gone).
pub fn stamp(store: &Store, name: &str) -> Result<Option<String>, StoreError> {
    Ok(all(store)?.get(name).map(|u| u.hash.clone()))
}

/// Whether any user exists.
pub fn any(store: &Store) -> Result<bool, StoreError> {
    Ok(!all(store)?.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_stored_hashed_and_a_new_password_changes_the_stamp() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            add(&store, "anna", "short"),
            Err(UserError::ShortPassword)
        ));
        assert!(matches!(
            add(&store, "anna bakker", "long enough pw"),
            Err(UserError::BadName(_))
        ));
        add(&store, "anna", "zonnepanelen1").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            add(&store, "anna", "zonnepanelen2"),
            Err(UserError::Exists(_))
        ));
        let stamp1 = verify(&store, "anna", "zonnepanelen1").unwrap_or_default();
        let stamp1 = stamp1.unwrap_or_else(|| panic!("right password refused"));
        assert!(stamp1.starts_with("$argon2id$"), "{stamp1}");
        assert!(!stamp1.contains("zonnepanelen1"));
        assert_eq!(verify(&store, "anna", "zonnepanelen2").ok(), Some(None));
        assert_eq!(verify(&store, "bob", "zonnepanelen1").ok(), Some(None));
        set_password(&store, "anna", "warmtepomp42").unwrap_or_else(|e| panic!("{e}"));
        let stamp2 = stamp(&store, "anna").unwrap_or_default();
        assert_ne!(stamp2, Some(stamp1));
        assert!(matches!(
            set_password(&store, "bob", "warmtepomp42"),
            Err(UserError::Unknown(_))
        ));
    }
}
