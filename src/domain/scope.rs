use std::fmt;

/// What an API key may do. `admin` implies every other scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Admin,
    /// `POST /orders`.
    Orders,
    /// `POST /clients`, `PUT /clients/{id}`.
    Clients,
    /// Changes to the pool: assign, provision, sync, release…
    Pool,
    /// Activations: `/confirmations/create`, `resend`, `status`, `expire`.
    Activations,
    /// Lookups: clients, the pool, metrics. A new `GET` does not get it by default: its
    /// module states its scope (`http/access.rs`).
    Read,
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Scope::Admin,
        Scope::Orders,
        Scope::Clients,
        Scope::Pool,
        Scope::Activations,
        Scope::Read,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Orders => "orders",
            Self::Clients => "clients",
            Self::Pool => "pool",
            Self::Activations => "activations",
            Self::Read => "read",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw.trim())
    }
}

/// A set of scopes, stored as a comma-separated list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scopes(Vec<Scope>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope '{0}' (expected admin, orders, clients, pool, activations, read)")]
pub struct ScopeError(pub String);

impl Scopes {
    pub fn admin() -> Self {
        Self(vec![Scope::Admin])
    }

    pub fn parse(raw: &str) -> Result<Self, ScopeError> {
        let mut scopes = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let scope = Scope::parse(part).ok_or_else(|| ScopeError(part.to_owned()))?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if scopes.is_empty() {
            return Err(ScopeError(String::new()));
        }
        scopes.sort();
        Ok(Self(scopes))
    }

    pub fn allows(&self, needed: Scope) -> bool {
        self.0.iter().any(|s| *s == Scope::Admin || *s == needed)
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|s| s.as_str()).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_allows_everything_and_others_only_themselves() {
        let admin = Scopes::admin();
        let orders = Scopes::parse("orders, read").unwrap();
        for s in Scope::ALL {
            assert!(admin.allows(s));
        }
        assert!(orders.allows(Scope::Orders));
        assert!(orders.allows(Scope::Read));
        assert!(!orders.allows(Scope::Pool));
        assert_eq!(orders.to_string(), "orders,read");
        assert!(Scopes::parse("orders,root").is_err());
        assert!(Scopes::parse("").is_err());
    }
}
