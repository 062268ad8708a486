//! `proxycall operators`: the dashboard's accounts from the command line.

use std::io::{BufRead, IsTerminal};

use clap::Subcommand;
use serde_json::json;

use super::{Failure, usage};
use crate::app::App;
use crate::app::operators::{Actor, accounts, password};
use crate::domain::{Email, Role};

#[derive(Subcommand)]
pub enum OperatorsCommand {
    /// Create an operator; the password is asked on the terminal (not echoed), or read as one
    /// line from standard input with --password-stdin.
    Create {
        #[arg(long)]
        email: String,
        /// viewer, operator or admin.
        #[arg(long)]
        role: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// List operators (never a password or a secret).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Disable an operator: it can no longer log in, and its sessions end.
    Disable {
        #[arg(long)]
        email: String,
    },
    /// Set an operator's password; its sessions end.
    ResetPassword {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

fn email(raw: &str) -> Result<Email, Failure> {
    Email::parse(raw).map_err(|e| usage(format!("--email: {e}")))
}

/// The new password: one line of standard input, or typed twice on the terminal.
fn read_password(from_stdin: bool) -> Result<String, Failure> {
    let password = if from_stdin || !std::io::stdin().is_terminal() {
        if !from_stdin {
            return Err(usage(
                "standard input is not a terminal: pass --password-stdin to read the password \
                 from it",
            ));
        }
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Password again: ")?;
        if first != again {
            return Err(usage("the two passwords differ"));
        }
        first
    };
    password::check(&password).map_err(usage)?;
    Ok(password)
}

pub async fn run(app: &App, action: OperatorsCommand) -> Result<(), Failure> {
    let actor = Actor::command_line();
    match action {
        OperatorsCommand::Create {
            email: raw,
            role,
            password_stdin,
        } => {
            let email = email(&raw)?;
            let role = Role::parse(&role).map_err(|e| usage(format!("--role: {e}")))?;
            let password = read_password(password_stdin)?;
            let id = accounts::create(app, &actor, &email, role, &password)
                .await
                .map_err(usage)?;
            println!("operator {id} created: {email} ({role})");
        }
        OperatorsCommand::List { json } => {
            let operators = accounts::list(app).await?;
            if json {
                let list: Vec<_> = operators
                    .iter()
                    .map(|o| {
                        json!({
                            "id": o.id,
                            "email": o.email.as_str(),
                            "role": o.role.as_str(),
                            "totp": o.totp_enabled,
                            "created_at": o.created_at,
                            "disabled_at": o.disabled_at,
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(list));
                return Ok(());
            }
            println!(
                "{:<6} {:<40} {:<9} {:<5} {:<9} {:<16}",
                "ID", "EMAIL", "ROLE", "TOTP", "STATE", "CREATED"
            );
            for o in operators {
                println!(
                    "{:<6} {:<40} {:<9} {:<5} {:<9} {:<16}",
                    o.id,
                    o.email.as_str(),
                    o.role.as_str(),
                    if o.totp_enabled { "on" } else { "off" },
                    if o.disabled_at.is_some() {
                        "disabled"
                    } else {
                        "active"
                    },
                    o.created_at.format("%Y-%m-%d %H:%M")
                );
            }
        }
        OperatorsCommand::Disable { email: raw } => {
            let email = email(&raw)?;
            if accounts::disable(app, &actor, &email)
                .await
                .map_err(usage)?
            {
                println!("operator {email} disabled; its sessions ended");
            } else {
                println!("operator {email} was disabled already");
            }
        }
        OperatorsCommand::ResetPassword {
            email: raw,
            password_stdin,
        } => {
            let email = email(&raw)?;
            let password = read_password(password_stdin)?;
            accounts::reset_password(app, &actor, &email, &password)
                .await
                .map_err(usage)?;
            println!("password of {email} set; its sessions ended");
        }
    }
    Ok(())
}
