package fmt2

import "testing"

func TestLabel(t *testing.T) {
	if got := Label(3, "kg"); got != "3 kg" {
		t.Fatalf("Label(3, kg) = %q", got)
	}
}
