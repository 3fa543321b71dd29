//! Man pages and shell completions generated from the clap definitions.
//!
//! Shared by the `xtask` binary and by the drift test in `tests/kit.rs` (which includes this file
//! with `#[path]`), so both render byte for byte the same pages. Only `std`, `clap`,
//! `clap_mangen`, `clap_complete` and `vrrpd` are used here.

use std::io;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;

/// Hand-written sections of vrrpd(8), merged into the generated page.
const VRRPD_EXTRA: &str = include_str!("../../man/vrrpd.extra.roff");
/// Hand-written sections of atropos(8), merged into the generated page.
const ATROPOS_EXTRA: &str = include_str!("../../man/atropos.extra.roff");

/// The shells completions are generated for.
pub const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// The commands documented and completed: `vrrpd` and `atropos`.
pub fn commands() -> Vec<clap::Command> {
    vec![vrrpd::cli::Args::command(), vrrpd::atropos_cli::command()]
}

/// A man page to write: file name (`vrrpd.8`) and contents.
pub struct Page {
    /// File name, e.g. `vrrpd.8`.
    pub name: String,
    /// The roff source.
    pub text: String,
}

/// SYNOPSIS lines of the man pages: clap_mangen's own lists every flag without its value.
const VRRPD_SYNOPSIS: &str =
    "vrrpd -i IF -v VRID [-p PRIO] [-d INTERVAL] [-U FILE] [-D FILE] [OPTIONS] ADDR[/LEN]...";
const ATROPOS_SYNOPSIS: &str =
    "atropos [--state|--dump|--count|--who-has VIP|--backup|--resume|--reduce|--increase|--priority PRIO]
        [-i IF] [-v VRID] [--json] [--quiet]
atropos --metrics|--metrics-listen ADDR:PORT [-i IF] [-v VRID]
atropos --follow [-i IF] [-v VRID] [--json]
atropos --help|--version";

/// Render both man pages.
pub fn man_pages() -> io::Result<Vec<Page>> {
    let mut pages = Vec::new();
    let extras = [
        (VRRPD_SYNOPSIS, VRRPD_EXTRA),
        (ATROPOS_SYNOPSIS, ATROPOS_EXTRA),
    ];
    for (cmd, (synopsis, extra)) in commands().into_iter().zip(extras) {
        let name = cmd.get_name().to_string();
        let text = render_page(cmd.override_usage(synopsis), extra)?;
        pages.push(Page {
            name: format!("{name}.8"),
            text,
        });
    }
    Ok(pages)
}

/// Write both man pages into `dir`; returns the paths written.
pub fn write_man_pages(dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for page in man_pages()? {
        let path = dir.join(&page.name);
        std::fs::write(&path, page.text)?;
        written.push(path);
    }
    Ok(written)
}

/// Write bash, zsh and fish completions for both commands into `dir`, under clap_complete's
/// names: `vrrpd.bash`, `_vrrpd`, `vrrpd.fish` (and the same for atropos).
pub fn write_completions(dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for mut cmd in commands() {
        let name = cmd.get_name().to_string();
        for shell in SHELLS {
            written.push(clap_complete::generate_to(shell, &mut cmd, &name, dir)?);
        }
    }
    Ok(written)
}

/// One `.SH` section of a roff page: its heading and the lines after it.
struct Section {
    heading: String,
    body: String,
}

/// Split roff text at `.SH` lines: the text before the first one, then the sections.
fn split_sections(text: &str) -> (String, Vec<Section>) {
    let mut head = String::new();
    let mut sections: Vec<Section> = Vec::new();
    for line in text.split_inclusive('\n') {
        if let Some(h) = line.strip_prefix(".SH ") {
            let heading = h.trim().trim_matches('"').to_string();
            sections.push(Section {
                heading,
                body: String::new(),
            });
        } else if let Some(s) = sections.last_mut() {
            s.body.push_str(line);
        } else {
            head.push_str(line);
        }
    }
    (head, sections)
}

fn push_section(out: &mut String, s: &Section) {
    if s.heading.contains(' ') {
        out.push_str(&format!(".SH \"{}\"\n", s.heading));
    } else {
        out.push_str(&format!(".SH {}\n", s.heading));
    }
    out.push_str(&s.body);
    if !s.body.is_empty() && !s.body.ends_with('\n') {
        out.push('\n');
    }
}

/// Render one page: clap_mangen's NAME, SYNOPSIS, DESCRIPTION and OPTIONS, the hand-written
/// DESCRIPTION text appended to the generated one, then every other hand-written section in the
/// order of the extra file. clap_mangen's EXTRA (the after-help example) and VERSION sections are
/// dropped: EXAMPLES says more, and the version is in the title line.
fn render_page(cmd: clap::Command, extra: &str) -> io::Result<String> {
    let name = cmd.get_name().to_string();
    let version = cmd.get_version().unwrap_or_default().to_string();
    let man = clap_mangen::Man::new(cmd).section("8");
    let mut generated = Vec::new();
    man.render(&mut generated)?;
    let generated =
        String::from_utf8(generated).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;

    let (preamble, gen_sections) = split_sections(&generated);
    let (_, mut extra_sections) = split_sections(extra);
    let extra_description = extra_sections
        .iter()
        .position(|s| s.heading == "DESCRIPTION")
        .map(|i| extra_sections.remove(i));

    let mut out = format!(
        ".\\\" Generated by `cargo xtask man` from the clap definition of {name} and\n\
         .\\\" man/{name}.extra.roff. Do not edit: edit those and regenerate.\n"
    );
    // clap_mangen drops the empty date argument of .TH, which shifts source and manual one place
    // to the left; write the title line here with an explicit empty date.
    for line in preamble.split_inclusive('\n') {
        if line.starts_with(".TH ") {
            out.push_str(&format!(
                ".TH {} 8 \"\" \"{name} {version}\" \"System Manager's Manual\"\n",
                name.to_uppercase()
            ));
        } else {
            out.push_str(line);
        }
    }
    for s in gen_sections
        .iter()
        .filter(|s| s.heading != "EXTRA" && s.heading != "VERSION")
    {
        if s.heading == "DESCRIPTION" {
            let mut merged = Section {
                heading: s.heading.clone(),
                body: s.body.clone(),
            };
            if let Some(d) = &extra_description {
                merged.body.push_str(".PP\n");
                merged.body.push_str(&d.body);
            }
            push_section(&mut out, &merged);
        } else {
            push_section(&mut out, s);
        }
    }
    for s in &extra_sections {
        push_section(&mut out, s);
    }
    Ok(out)
}
