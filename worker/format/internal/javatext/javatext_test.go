package javatext

import (
	"math"
	"testing"
)

// The expected strings are what Java 21's Double.toString, Float.toString and
// BigDecimal.toString print for the same values (their javadoc states the rules: plain notation
// for 1e-3 <= |v| < 1e7, else computerized scientific notation; BigDecimal uses scientific
// notation when the adjusted exponent is below -6).
func TestAppendDouble(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0.0"},
		{math.Copysign(0, -1), "-0.0"},
		{1, "1.0"},
		{-2.5, "-2.5"},
		{0.1, "0.1"},
		{0.001, "0.001"},
		{0.0001, "1.0E-4"},
		{100, "100.0"},
		{1234567, "1234567.0"},
		{1e7, "1.0E7"},
		{12345678.9, "1.23456789E7"},
		{1e23, "1.0E23"},
		{2.2250738585072014e-308, "2.2250738585072014E-308"},
		{4.9e-324, "4.9E-324"},
		{math.MaxFloat64, "1.7976931348623157E308"},
		{2.2, "2.2"},
		{1.0 / 3, "0.3333333333333333"},
		{123.456e-10, "1.23456E-8"},
		{math.NaN(), "NaN"},
		{math.Inf(-1), "-Infinity"},
	}
	for _, tt := range tests {
		if got := string(AppendDouble(nil, tt.in)); got != tt.want {
			t.Errorf("AppendDouble(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAppendFloat(t *testing.T) {
	tests := []struct {
		in   float32
		want string
	}{
		{1.1, "1.1"},
		{0.1, "0.1"},
		{3.4028235e38, "3.4028235E38"},
		{1.4e-45, "1.4E-45"},
		{-1e7, "-1.0E7"},
		{16777216, "1.6777216E7"},
		{123.25, "123.25"},
	}
	for _, tt := range tests {
		if got := string(AppendFloat(nil, tt.in)); got != tt.want {
			t.Errorf("AppendFloat(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAppendBigDecimal(t *testing.T) {
	tests := []struct{ in, want string }{
		{"-12345678901234.123456", "-12345678901234.123456"},
		{"12.50", "12.50"},
		{"12", "12"},
		{"0.000000", "0.000000"},
		{"0.000001", "0.000001"},
		{"0.0000001", "1E-7"},
		{"0.0000000001", "1E-10"},
		{"-0.0000000001", "-1E-10"},
		{"0.0000001000", "1.000E-7"},
		{"0.0000000000", "0E-10"},
		{"0.0000012345", "0.0000012345"},
		{"not a number", "not a number"},
	}
	for _, tt := range tests {
		if got := string(AppendBigDecimal(nil, tt.in)); got != tt.want {
			t.Errorf("AppendBigDecimal(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNoAllocations(t *testing.T) {
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() {
		buf = AppendDouble(buf[:0], 2.2250738585072014e-308)
		buf = AppendFloat(buf[:0], 1.1)
		buf = AppendBigDecimal(buf[:0], "-12345678901234.123456")
	}); n != 0 {
		t.Errorf("%v allocations per call", n)
	}
}
