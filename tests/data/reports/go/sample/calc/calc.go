// Package calc is a tiny sample for coverage and test reports.
package calc

import "errors"

// ErrZero is returned when dividing by zero.
var ErrZero = errors.New("division by zero")

// Add adds two numbers.
func Add(a, b int) int {
	return a + b
}

// Div divides a by b.
func Div(a, b int) (int, error) {
	if b == 0 {
		return 0, ErrZero
	}
	return a / b, nil
}

// Clamp keeps value between low and high.
func Clamp(value, low, high int) int {
	if value < low {
		return low
	}
	if value > high {
		return high
	}
	return value
}

// Unused is never called by the tests.
func Unused(words []string) int {
	total := 0
	for _, word := range words {
		total += len(word)
	}
	return total
}
