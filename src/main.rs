use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = proxycall::cli::Cli::parse();
    proxycall::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the async runtime starts");
    runtime.block_on(proxycall::cli::run(cli))
}
