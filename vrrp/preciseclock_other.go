//go:build !linux

package vrrp

import "time"

func sleepPrecise(d time.Duration) { time.Sleep(d) }
