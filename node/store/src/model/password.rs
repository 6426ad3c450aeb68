//! Password hashing with Argon2id (PHC strings), done outside transactions because it is
//! deliberately slow.

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use tern_proto::Secret;

use super::ModelError;

/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 8;

/// Hashes a password into a PHC string.
pub fn hash(password: &Secret<String>) -> Result<String, ModelError> {
    let pw = password.expose();
    if pw.chars().count() < MIN_PASSWORD {
        return Err(ModelError::Invalid(format!(
            "password must have at least {MIN_PASSWORD} characters"
        )));
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(pw.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ModelError::Invalid(format!("cannot hash password: {e}")))
}

/// Whether `password` matches the PHC string.
pub fn verify(password: &Secret<String>, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.expose().as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}
