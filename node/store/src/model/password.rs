//! Password hashing with Argon2id (PHC strings), done outside transactions because it is
//! deliberately slow. The cost is a setting ([`Hashing`]) that may not go below OWASP's
//! recommended minimums; a stored hash made with other settings verifies with its own and
//! [`Hashing::outdated`] tells the login path to hash the password again.

use argon2::{
    Algorithm, Argon2, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::{SaltString, rand_core::OsRng},
};
use tern_proto::Secret;

use super::ModelError;

/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 8;

/// OWASP's Password Storage Cheat Sheet: Argon2id configurations of equal strength, as
/// (memory in KiB, iterations), each with parallelism 1. A setting must reach one of them.
pub const OWASP_FLOOR: [(u32, u32); 5] = [
    (47_104, 1),
    (19_456, 2),
    (12_288, 3),
    (9_216, 4),
    (7_168, 5),
];

/// Most memory a setting may ask per check (4 GiB, Argon2's own limit is far above).
const MAX_MEMORY_KIB: u32 = 4 * 1024 * 1024;

/// Argon2id's cost: memory, iterations and lanes of one hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hashing {
    /// Memory per hash, KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for Hashing {
    /// OWASP's second configuration (19 MiB, 2 iterations, 1 lane), also the argon2 crate's.
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl Hashing {
    /// Refuses a cost below every configuration of [`OWASP_FLOOR`] (naming them), no lanes, or
    /// more than 4 GiB.
    pub fn check(&self) -> Result<(), String> {
        if self.parallelism == 0 {
            return Err("parallelism must be at least 1".into());
        }
        if self.memory_kib > MAX_MEMORY_KIB {
            return Err(format!(
                "memory_kib {} is over the limit of {MAX_MEMORY_KIB} (4 GiB)",
                self.memory_kib
            ));
        }
        if OWASP_FLOOR
            .iter()
            .any(|&(m, t)| self.memory_kib >= m && self.iterations >= t)
        {
            return Ok(());
        }
        let floor = OWASP_FLOOR
            .iter()
            .map(|(m, t)| format!("{m} KiB × {t}"))
            .collect::<Vec<_>>()
            .join(", ");
        Err(format!(
            "{} KiB × {} iterations is below OWASP's minimum for Argon2id; reach one of {floor}",
            self.memory_kib, self.iterations
        ))
    }

    fn argon2(&self) -> Result<Argon2<'static>, ModelError> {
        let params = argon2::Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| ModelError::Invalid(format!("Argon2 parameters: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// Hashes a password into a PHC string with this cost.
    pub fn hash(&self, password: &Secret<String>) -> Result<String, ModelError> {
        let pw = password.expose();
        if pw.chars().count() < MIN_PASSWORD {
            return Err(ModelError::Invalid(format!(
                "password must have at least {MIN_PASSWORD} characters"
            )));
        }
        let salt = SaltString::generate(&mut OsRng);
        self.argon2()?
            .hash_password(pw.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ModelError::Invalid(format!("cannot hash password: {e}")))
    }

    /// Whether the stored hash was made otherwise than this cost asks (another algorithm,
    /// version or parameters): the password should be hashed again once it is known.
    pub fn outdated(&self, phc: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return true;
        };
        let Ok(params) = argon2::Params::try_from(&parsed) else {
            return true;
        };
        parsed.algorithm != Algorithm::Argon2id.ident()
            || parsed.version != Some(Version::V0x13.into())
            || (params.m_cost(), params.t_cost(), params.p_cost())
                != (self.memory_kib, self.iterations, self.parallelism)
    }
}

/// Whether `password` matches the PHC string (verified with the parameters it carries).
pub fn verify(password: &Secret<String>, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.expose().as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(memory_kib: u32, iterations: u32) -> Hashing {
        Hashing {
            memory_kib,
            iterations,
            parallelism: 1,
        }
    }

    #[test]
    fn the_floor_is_owasps_table() {
        for (m, t) in OWASP_FLOOR {
            assert_eq!(cost(m, t).check(), Ok(()));
            assert!(cost(m - 1, t).check().is_err(), "{m} KiB less one × {t}");
        }
        assert_eq!(Hashing::default().check(), Ok(()));
        assert_eq!(cost(65_536, 3).check(), Ok(()));
        let low = cost(19_455, 2).check().expect_err("below the floor");
        assert!(low.contains("below OWASP's minimum"), "{low}");
        assert!(low.contains("19456 KiB × 2"), "{low}");
        assert!(
            cost(4096, 10).check().is_err(),
            "too little memory at any count"
        );
        assert!(
            Hashing {
                parallelism: 0,
                ..Hashing::default()
            }
            .check()
            .is_err()
        );
        assert!(cost(MAX_MEMORY_KIB + 1, 1).check().is_err());
    }

    #[test]
    fn a_hash_of_other_parameters_is_outdated_and_still_verifies() {
        let password = Secret::new("correct horse battery".to_string());
        let old = cost(7_168, 5).hash(&password).expect("hash");
        let now = Hashing::default();
        assert!(now.outdated(&old));
        assert!(verify(&password, &old), "verified with its own parameters");
        let new = now.hash(&password).expect("hash");
        assert!(!now.outdated(&new));
        assert!(new.contains("m=19456,t=2,p=1"), "{new}");
        assert!(verify(&password, &new));
        assert!(!verify(&Secret::new("wrong password".into()), &new));
        assert!(now.outdated("not a phc string"));
        assert!(now.outdated("$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"));
    }
}
