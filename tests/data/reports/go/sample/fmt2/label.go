// Package fmt2 formats labels.
package fmt2

import "fmt"

// Label joins a value and its unit.
func Label(value int, unit string) string {
	if unit == "" {
		return fmt.Sprint(value)
	}
	return fmt.Sprintf("%d %s", value, unit)
}
