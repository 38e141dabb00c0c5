package report

import "testing"

func TestFormatOfPath(t *testing.T) {
	for name, want := range map[string]Format{
		"advisor.sarif": FormatSARIF, "out/advisor.sarif.json": FormatSARIF, "REPORT.JSON": FormatJSON,
		"a.md": FormatMarkdown, "a.markdown": FormatMarkdown, "junit.xml": FormatJUnit, "report.txt": FormatText,
	} {
		if got, ok := FormatOfPath(name); !ok || got != want {
			t.Errorf("FormatOfPath(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
	for _, name := range []string{"report", "report.html", "a.sarif.bak", ".json", "md", "gl-code-quality"} {
		if got, ok := FormatOfPath(name); ok {
			t.Errorf("FormatOfPath(%q) = %q, want no format", name, got)
		}
	}
	for _, f := range Formats {
		ext := Extension(f)
		if f == FormatGitHub {
			if ext != "" {
				t.Errorf("Extension(github-actions) = %q, want none", ext)
			}
			continue
		}
		// Every extension but the GitLab file's names its own format.
		if got, ok := FormatOfPath("a" + ext); f != FormatGitLab && (!ok || got != f) {
			t.Errorf("Extension(%s) = %q, which names %q", f, ext, got)
		}
	}
}
