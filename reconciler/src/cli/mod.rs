//! Command-line interface: parses arguments and runs one stage pipeline per command.

mod apply;
mod codeowners;
pub mod install;
mod kube_plan;
mod render;
mod replicas;
mod runs;
mod serve;
mod server;
mod stages;
mod status_site;
mod validate;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// GitOps control plane for machine-learning platforms.
#[derive(Parser, Debug)]
#[command(name = "cubist", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Output format of reports.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Format {
    /// For people.
    Text,
    /// For machines.
    Json,
    /// For pull requests.
    Markdown,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Validate a platform repository: schemas and semantic checks, every error with file:line:col.
    Validate {
        /// Repository root.
        #[arg(default_value = ".")]
        repo: PathBuf,
        /// Output format (text or json).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Render every cluster's objects into a directory (no inventory, no prune).
    Render {
        /// Repository root.
        #[arg(default_value = ".")]
        repo: PathBuf,
        /// Output directory; one subdirectory per cluster.
        #[arg(long)]
        out: PathBuf,
        /// Only this cluster.
        #[arg(long)]
        cluster: Option<String>,
    },
    /// Show what `apply` would create, change and delete on each cluster, with diffs.
    Plan(PlanArgs),
    /// Plan, then apply to each cluster's target and prune what is no longer desired.
    Apply(PlanArgs),
    /// Run the GitOps loop: reconcile each new commit of the watched branch, write status commits.
    Reconcile {
        /// Loop options.
        #[command(flatten)]
        args: serve::LoopArgs,
    },
    /// Run the loop and serve the read-only status page (and the GitHub webhook when
    /// CUBIST_WEBHOOK_SECRET is set).
    Serve {
        /// Loop options.
        #[command(flatten)]
        args: serve::LoopArgs,
        /// Server options.
        #[command(flatten)]
        server: server::ServerArgs,
    },
    /// Print a .github/CODEOWNERS: platform admins own clusters/ and templates/, each project's
    /// admins own projects/<p>/.
    Codeowners {
        /// Repository root.
        #[arg(default_value = ".")]
        repo: PathBuf,
    },
    /// Write the status page as static HTML files (relative links: open from disk or publish
    /// on any web root, such as GitHub Pages).
    StatusSite(status_site::SiteArgs),
    /// The runs of pipelines recorded on the status branch; `runs next PIPELINE`: the next
    /// execution times of its schedule.
    Runs(runs::RunsArgs),
    /// List every diagnostic code and what it means.
    Codes,
    /// Print the manifests that install cubist in a Kubernetes cluster (those of `deploy/`).
    Install(install::InstallArgs),
}

/// Arguments of `plan` and `apply`.
#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// Repository root.
    #[arg(default_value = ".")]
    repo: PathBuf,
    /// Only this cluster.
    #[arg(long)]
    cluster: Option<String>,
    /// Output format of the plan.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Allow deletions the prune guard would hold (a whole project, every object, or more
    /// than the cluster's `pruneLimit`).
    #[arg(long)]
    allow_prune: bool,
    /// Directory targets (`../<dir>`) are written in this directory instead of the one that
    /// holds the repository (env CUBIST_TARGET_ROOT).
    #[arg(long)]
    target_root: Option<PathBuf>,
}

/// Exit code for usage and I/O errors.
pub const EXIT_USAGE: u8 = 2;

/// Entry point of the binary.
pub fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate { repo, format } => validate::run(&repo, format),
        Command::Render { repo, out, cluster } => render::run(&repo, &out, cluster.as_deref()),
        Command::Plan(a) => apply::run(&a, false),
        Command::Apply(a) => apply::run(&a, true),
        Command::Reconcile { args } => serve::reconcile(args),
        Command::Serve { args, server } => server::serve(args, server),
        Command::Codeowners { repo } => codeowners::run(&repo),
        Command::StatusSite(a) => status_site::run(&a),
        Command::Install(a) => install::run(&a),
        Command::Runs(a) => runs::run(&a),
        Command::Codes => {
            for (code, meaning) in crate::diag::codes::ALL {
                println!("{code}  {meaning}");
            }
            Ok(ExitCode::SUCCESS)
        }
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::from(EXIT_USAGE)
    })
}

/// The directory that stands for the repository when directory targets are placed: its
/// parent is the target root (`../rendered/local` is `<target root>/rendered/local`). It is
/// `repo` itself, unless `--target-root` (else `CUBIST_TARGET_ROOT`) names the target root.
fn targets_base(repo: &Path, target_root: Option<&Path>) -> PathBuf {
    let root = target_root.map(Path::to_path_buf).or_else(|| {
        std::env::var_os("CUBIST_TARGET_ROOT")
            .filter(|r| !r.is_empty())
            .map(PathBuf::from)
    });
    match root {
        Some(root) => root.join("repository"),
        None => repo.to_path_buf(),
    }
}

/// The cache directory of mirrors: `explicit`, else $XDG_CACHE_HOME/cubist, else ~/.cache/cubist.
fn cache_dir(explicit: Option<&Path>) -> PathBuf {
    explicit.map(Path::to_path_buf).unwrap_or_else(|| {
        std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(|| PathBuf::from(".cache"))
            .join("cubist")
    })
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("CUBIST_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
