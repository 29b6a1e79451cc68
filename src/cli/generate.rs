//! `loadtide completions SHELL` and `loadtide man`: shell completions and a roff man page,
//! generated from the CLI definition itself so they never drift from it.

use clap::CommandFactory;

use super::{Cli, EXIT_RUNTIME};

pub(super) fn completions(shell: clap_complete::Shell) -> u8 {
    print_all(&completion_script(shell))
}

/// The completion script for `shell`, rendered in memory: clap_complete panics on a failed
/// write (a closed pipe), and the command must not.
pub fn completion_script(shell: clap_complete::Shell) -> Vec<u8> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "loadtide", &mut out);
    out
}

pub(super) fn man() -> u8 {
    match man_page() {
        Ok(page) => print_all(&page),
        Err(e) => {
            eprintln!("error: cannot render the man page: {e}");
            EXIT_RUNTIME
        }
    }
}

/// Writes `bytes` to stdout; a closed pipe (`| head`) is not an error worth a message.
pub(super) fn print_all(bytes: &[u8]) -> u8 {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("error: cannot write to stdout: {e}");
            EXIT_RUNTIME
        }
    }
}

/// loadtide(1): the top-level page with every subcommand and its options.
pub fn man_page() -> std::io::Result<Vec<u8>> {
    let cmd = Cli::command();
    let man = clap_mangen::Man::new(cmd.clone());
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    man.render_subcommands_section(&mut out)?;
    // Each subcommand's options, under its own heading.
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let heading = format!(".SH \"LOADTIDE {}\"\n", sub.get_name().to_uppercase());
        out.extend_from_slice(heading.as_bytes());
        let page =
            clap_mangen::Man::new(sub.clone().bin_name(format!("loadtide {}", sub.get_name())));
        page.render_synopsis_section(&mut out)?;
        page.render_options_section(&mut out)?;
    }
    man.render_version_section(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_know_every_subcommand_and_flag() {
        let bash = String::from_utf8(completion_script(clap_complete::Shell::Bash)).expect("UTF-8");
        for word in [
            "serve",
            "run",
            "check",
            "capacity",
            "init",
            "--threshold",
            "--env",
            "--shard",
        ] {
            assert!(
                bash.contains(word),
                "{word} missing from the bash completions"
            );
        }
        let zsh = String::from_utf8(completion_script(clap_complete::Shell::Zsh)).expect("UTF-8");
        assert!(zsh.starts_with("#compdef loadtide"), "{}", &zsh[..40]);
    }

    #[test]
    fn the_man_page_has_a_section_per_subcommand_with_its_options() {
        let page = String::from_utf8(man_page().expect("renders")).expect("UTF-8");
        assert!(
            page.starts_with(".ie") || page.starts_with(".TH"),
            "{}",
            &page[..80]
        );
        assert!(page.contains(".TH loadtide 1"), "{}", &page[..200]);
        for section in [
            "LOADTIDE SERVE",
            "LOADTIDE RUN",
            "LOADTIDE CHECK",
            "LOADTIDE INIT",
        ] {
            assert!(page.contains(&format!(".SH \"{section}\"")), "no {section}");
        }
        assert!(page.contains("threshold"), "run's options are in it");
    }
}
