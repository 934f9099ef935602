//! Recognise dependency installs in a `RUN` and name the manifests they read, so the
//! advice can say which files to copy before the install.

use std::collections::BTreeSet;

/// A package ecosystem; two installs of the same one share their manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ecosystem {
    Python,
    Node,
    Rust,
    Go,
    Ruby,
    Maven,
    Gradle,
    Php,
    Dotnet,
    Elixir,
    Conda,
    System,
}

/// What an install reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reads {
    /// Manifests from the build context: copy these first.
    Manifests(Vec<String>),
    /// Only named packages: the install does not need the context at all.
    Named,
}

/// One recognised install command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    /// How it reads in the Dockerfile, e.g. `npm ci`, `pip install`.
    pub command: String,
    pub ecosystem: Ecosystem,
    pub reads: Reads,
}

/// The files at the top of the build context (names only), when known. An empty set means
/// "unknown": manifests are then named by the usual defaults.
pub type ContextFiles = BTreeSet<String>;

/// Recognise an install in one simple command's words.
pub fn detect(words: &[String], ctx: &ContextFiles) -> Option<Install> {
    let program = words.first()?.rsplit('/').next().unwrap_or_default();
    let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
    let sub = args
        .iter()
        .copied()
        .find(|a| !a.starts_with('-'))
        .unwrap_or("");
    let plain = |eco, names: &[&str], locks: &[&str]| {
        Some(install(
            format!("{program} {sub}"),
            eco,
            pick(names, locks, ctx),
        ))
    };
    match program {
        p if is_pip(p, &args) => pip(p, &args, ctx),
        "npm" => npm(&args, ctx),
        "yarn" if sub.is_empty() || matches!(sub, "install" | "add") => {
            if args.contains(&"global") {
                return named("yarn global", Ecosystem::Node);
            }
            plain(Ecosystem::Node, &["package.json"], &["yarn.lock"])
        }
        "pnpm" if sub == "fetch" => plain(Ecosystem::Node, &["pnpm-lock.yaml"], &[]),
        "pnpm" if matches!(sub, "install" | "i" | "add") => {
            plain(Ecosystem::Node, &["package.json"], &["pnpm-lock.yaml"])
        }
        "bun" if matches!(sub, "install" | "i" | "add") => plain(
            Ecosystem::Node,
            &["package.json"],
            &["bun.lock", "bun.lockb"],
        ),
        "cargo" if sub == "install" && !args.contains(&"--path") => {
            named("cargo install", Ecosystem::Rust)
        }
        "cargo"
            if matches!(
                sub,
                "build" | "fetch" | "test" | "check" | "install" | "chef"
            ) =>
        {
            plain(Ecosystem::Rust, &["Cargo.toml"], &["Cargo.lock"])
        }
        "go" if sub == "install" && args.iter().any(|a| a.contains('@')) => {
            named("go install", Ecosystem::Go)
        }
        "go" if matches!(
            sub,
            "mod" | "build" | "install" | "test" | "get" | "generate"
        ) =>
        {
            plain(Ecosystem::Go, &["go.mod"], &["go.sum"])
        }
        "bundle" | "bundler" if sub == "install" || sub.is_empty() => {
            plain(Ecosystem::Ruby, &["Gemfile"], &["Gemfile.lock"])
        }
        "gem" if sub == "install" => named("gem install", Ecosystem::Ruby),
        "mvn" | "mvnw" if !sub.is_empty() => plain(Ecosystem::Maven, &["pom.xml"], &[]),
        "gradle" | "gradlew" if !sub.is_empty() => gradle(program, sub, ctx),
        "composer" if matches!(sub, "install" | "update" | "require") => {
            plain(Ecosystem::Php, &["composer.json"], &["composer.lock"])
        }
        "poetry" if matches!(sub, "install" | "sync") => {
            plain(Ecosystem::Python, &["pyproject.toml"], &["poetry.lock"])
        }
        "pipenv" if matches!(sub, "install" | "sync") => {
            plain(Ecosystem::Python, &["Pipfile"], &["Pipfile.lock"])
        }
        "uv" if sub == "sync" => plain(Ecosystem::Python, &["pyproject.toml"], &["uv.lock"]),
        "pdm" if matches!(sub, "install" | "sync") => {
            plain(Ecosystem::Python, &["pyproject.toml"], &["pdm.lock"])
        }
        "dotnet" if matches!(sub, "restore" | "build" | "publish") => dotnet(sub, ctx),
        "mix" if sub == "deps.get" => plain(Ecosystem::Elixir, &["mix.exs"], &["mix.lock"]),
        "conda" | "mamba" | "micromamba" => conda(program, &args),
        "apt-get" | "apt" | "aptitude" if sub == "install" => {
            named(&format!("{program} install"), Ecosystem::System)
        }
        "apk" if sub == "add" => named("apk add", Ecosystem::System),
        "dnf" | "yum" | "microdnf" | "zypper" if sub == "install" => {
            named(&format!("{program} install"), Ecosystem::System)
        }
        _ => None,
    }
}

fn install(command: String, ecosystem: Ecosystem, manifests: Vec<String>) -> Install {
    Install {
        command: command.trim_end().to_owned(),
        ecosystem,
        reads: Reads::Manifests(manifests),
    }
}

fn named(command: &str, ecosystem: Ecosystem) -> Option<Install> {
    Some(Install {
        command: command.to_owned(),
        ecosystem,
        reads: Reads::Named,
    })
}

/// Required manifests, plus the lock files the context has (or the first lock file when
/// the context is unknown).
fn pick(required: &[&str], locks: &[&str], ctx: &ContextFiles) -> Vec<String> {
    let mut out: Vec<String> = required.iter().map(|s| (*s).to_owned()).collect();
    let present: Vec<&str> = locks.iter().copied().filter(|l| ctx.contains(*l)).collect();
    match (present.is_empty(), ctx.is_empty(), locks.first()) {
        (false, _, _) => out.extend(present.into_iter().map(str::to_owned)),
        (true, true, Some(first)) => out.push((*first).to_owned()),
        _ => {}
    }
    out
}

fn is_pip(program: &str, args: &[&str]) -> bool {
    let pythonish = program.starts_with("python");
    program == "pip"
        || program.starts_with("pip3")
        || (pythonish && args.windows(2).any(|w| w == ["-m", "pip"]))
        || (program == "uv" && args.first() == Some(&"pip"))
}

fn pip(program: &str, args: &[&str], ctx: &ContextFiles) -> Option<Install> {
    let at = args.iter().position(|a| *a == "install")?;
    let args = &args[at + 1..];
    let command = if program == "uv" {
        "uv pip install"
    } else {
        "pip install"
    };
    let mut files = Vec::new();
    let mut local = false;
    let mut names = false;
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        let file = match *a {
            "-r" | "--requirement" | "-c" | "--constraint" => it.next().copied(),
            _ if a.starts_with("--requirement=") || a.starts_with("--constraint=") => {
                a.split_once('=').map(|(_, v)| v)
            }
            _ if a.starts_with("-r") && a.len() > 2 => Some(&a[2..]),
            "-e" | "--editable" => {
                local |= it.next().is_some_and(|p| p.starts_with('.'));
                None
            }
            _ if a.starts_with('.') => {
                local = true;
                None
            }
            _ if !a.starts_with('-') => {
                names = true;
                None
            }
            _ => None,
        };
        if let Some(f) = file {
            files.push(context_name(f));
        }
    }
    if !files.is_empty() {
        return Some(install(command.into(), Ecosystem::Python, files));
    }
    if local {
        let mut m = pick(&["pyproject.toml"], &[], ctx);
        m.extend(
            ["setup.py", "setup.cfg"]
                .iter()
                .filter(|f| ctx.contains(**f))
                .map(|f| (*f).to_owned()),
        );
        return Some(install(command.into(), Ecosystem::Python, m));
    }
    names.then(|| Install {
        command: command.into(),
        ecosystem: Ecosystem::Python,
        reads: Reads::Named,
    })
}

/// A path as given in the container, reduced to what to copy from the context: relative
/// paths stay, absolute ones (under WORKDIR, unknown here) keep their file name.
fn context_name(path: &str) -> String {
    let p = path.trim_start_matches("./");
    if p.starts_with('/') {
        p.rsplit('/').next().unwrap_or(p).to_owned()
    } else {
        p.to_owned()
    }
}

fn npm(args: &[&str], ctx: &ContextFiles) -> Option<Install> {
    let sub = args.iter().copied().find(|a| !a.starts_with('-'))?;
    if !matches!(sub, "ci" | "install" | "i" | "add" | "clean-install") {
        return None;
    }
    if args.iter().any(|a| *a == "-g" || *a == "--global") {
        return named("npm install -g", Ecosystem::Node);
    }
    let locks = ["package-lock.json", "npm-shrinkwrap.json"];
    Some(install(
        format!("npm {sub}"),
        Ecosystem::Node,
        pick(&["package.json"], &locks, ctx),
    ))
}

fn gradle(program: &str, sub: &str, ctx: &ContextFiles) -> Option<Install> {
    let mut m = Vec::new();
    for group in [
        ["build.gradle.kts", "build.gradle"],
        ["settings.gradle.kts", "settings.gradle"],
    ] {
        match group.iter().find(|f| ctx.contains(**f)) {
            Some(f) => m.push((*f).to_owned()),
            None if ctx.is_empty() => m.push(group[1].to_owned()),
            None => {}
        }
    }
    if ctx.contains("gradle.properties") {
        m.push("gradle.properties".to_owned());
    }
    if program == "gradlew" {
        m.extend(["gradlew".to_owned(), "gradle/".to_owned()]);
    }
    Some(install(format!("{program} {sub}"), Ecosystem::Gradle, m))
}

fn dotnet(sub: &str, ctx: &ContextFiles) -> Option<Install> {
    let projects: Vec<String> = ctx
        .iter()
        .filter(|f| f.ends_with(".csproj") || f.ends_with(".fsproj") || f.ends_with(".sln"))
        .cloned()
        .collect();
    let m = if projects.is_empty() {
        vec!["*.csproj".to_owned()]
    } else {
        projects
    };
    Some(install(format!("dotnet {sub}"), Ecosystem::Dotnet, m))
}

fn conda(program: &str, args: &[&str]) -> Option<Install> {
    let file = args
        .windows(2)
        .find(|w| matches!(w[0], "-f" | "--file"))
        .map(|w| context_name(w[1]));
    let is_install = args
        .iter()
        .any(|a| matches!(*a, "install" | "create" | "update"));
    match (file, is_install) {
        (Some(f), true) => Some(install(format!("{program} env"), Ecosystem::Conda, vec![f])),
        (None, true) => named(&format!("{program} install"), Ecosystem::Conda),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    fn reads(cmd: &str, ctx: &[&str]) -> Option<Reads> {
        let ctx = ctx.iter().map(|s| (*s).to_owned()).collect();
        detect(&w(cmd), &ctx).map(|i| i.reads)
    }

    fn files(list: &[&str]) -> Option<Reads> {
        Some(Reads::Manifests(
            list.iter().map(|s| (*s).to_owned()).collect(),
        ))
    }

    #[test]
    fn manifests_follow_command_and_context() {
        assert_eq!(
            reads("npm ci", &[]),
            files(&["package.json", "package-lock.json"])
        );
        assert_eq!(
            reads("npm ci", &["npm-shrinkwrap.json"]),
            files(&["package.json", "npm-shrinkwrap.json"])
        );
        assert_eq!(reads("npm install -g pnpm", &[]), Some(Reads::Named));
        assert_eq!(
            reads(
                "pip install --no-cache-dir -r /app/requirements/prod.txt",
                &[]
            ),
            files(&["prod.txt"])
        );
        assert_eq!(
            reads("python3 -m pip install -rreq.txt", &[]),
            files(&["req.txt"])
        );
        assert_eq!(
            reads("pip install -e .", &["setup.py"]),
            files(&["pyproject.toml", "setup.py"])
        );
        assert_eq!(reads("pip install flask", &[]), Some(Reads::Named));
        assert_eq!(
            reads("cargo build --release", &[]),
            files(&["Cargo.toml", "Cargo.lock"])
        );
        assert_eq!(reads("cargo install ripgrep", &[]), Some(Reads::Named));
        assert_eq!(
            reads("go install example.com/x@v1", &[]),
            Some(Reads::Named)
        );
        assert_eq!(
            reads("go build -o /app .", &[]),
            files(&["go.mod", "go.sum"])
        );
        assert_eq!(
            reads("./gradlew build", &["build.gradle.kts"]),
            files(&["build.gradle.kts", "gradlew", "gradle/"])
        );
        assert_eq!(
            reads("yarn", &["yarn.lock"]),
            files(&["package.json", "yarn.lock"])
        );
        assert_eq!(reads("npm run build", &[]), None);
        assert_eq!(reads("apt-get install -y curl", &[]), Some(Reads::Named));
    }
}
