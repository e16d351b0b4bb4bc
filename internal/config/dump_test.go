package config

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"time"
)

// dump prints a Config as stable indented text for golden files: one
// field per line, zero values left out, durations and addresses in their
// usual notation.
func dump(v any) string {
	var b strings.Builder
	dumpValue(&b, reflect.ValueOf(v), "")
	return b.String()
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	addrType     = reflect.TypeOf(netip.Addr{})
	prefixType   = reflect.TypeOf(netip.Prefix{})
	stringerType = reflect.TypeOf((*fmt.Stringer)(nil)).Elem()
)

func scalar(v reflect.Value) (string, bool) {
	switch {
	case v.Type() == durationType:
		return time.Duration(v.Int()).String(), true
	case v.Type() == addrType, v.Type() == prefixType:
		return v.Interface().(fmt.Stringer).String(), true
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8:
		return hex.EncodeToString(v.Bytes()), true
	case v.Kind() == reflect.String:
		return fmt.Sprintf("%q", v.String()), true
	case v.Type().Implements(stringerType) && v.Kind() != reflect.Struct && v.Kind() != reflect.Pointer:
		return fmt.Sprintf("%s (%d)", v.Interface(), v.Interface()), true
	case v.Kind() == reflect.Bool, v.Kind() >= reflect.Int && v.Kind() <= reflect.Float64:
		return fmt.Sprint(v.Interface()), true
	}
	return "", false
}

func dumpValue(b *strings.Builder, v reflect.Value, indent string) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			dumpValue(b, v.Elem(), indent)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := v.Field(i)
			if f.IsZero() {
				continue
			}
			if s, ok := scalar(f); ok {
				fmt.Fprintf(b, "%s%s: %s\n", indent, t.Field(i).Name, s)
				continue
			}
			fmt.Fprintf(b, "%s%s:\n", indent, t.Field(i).Name)
			dumpValue(b, f, indent+"  ")
		}
	case reflect.Slice:
		for i := range v.Len() {
			e := v.Index(i)
			if s, ok := scalar(e); ok {
				fmt.Fprintf(b, "%s- %s\n", indent, s)
				continue
			}
			fmt.Fprintf(b, "%s-\n", indent)
			dumpValue(b, e, indent+"  ")
		}
	}
}
