package netif

import (
	"context"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// LinkMonitor reports interface link state from rtnetlink (RTNLGRP_LINK)
// for the VRRP speaker's track_interface.
type LinkMonitor struct{}

// linkUp is keepalived's test of a usable interface: administratively up
// (IFF_UP) and with carrier (IFF_RUNNING).
func linkUp(a *netlink.LinkAttrs) bool {
	return a.Flags&net.FlagUp != 0 && a.RawFlags&unix.IFF_RUNNING != 0
}

// LinkUp reports whether the named link is up; a missing link is down.
func (LinkMonitor) LinkUp(name string) (bool, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		if _, ok := err.(netlink.LinkNotFoundError); ok {
			return false, nil
		}
		return false, fmt.Errorf("link %s: %w", name, err)
	}
	return linkUp(l.Attrs()), nil
}

// Watch calls report for every link change (RTM_NEWLINK, RTM_DELLINK)
// until ctx ends. A deleted link is reported down.
func (LinkMonitor) Watch(ctx context.Context, report func(name string, up bool)) error {
	ch := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	errc := make(chan error, 1)
	if err := netlink.LinkSubscribeWithOptions(ch, done, netlink.LinkSubscribeOptions{
		ErrorCallback: func(err error) {
			select {
			case errc <- err:
			default:
			}
		},
	}); err != nil {
		return fmt.Errorf("subscribe to link updates: %w", err)
	}
	defer func() {
		close(done)
		// The subscription closes ch once its reader notices done.
		for range ch {
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return fmt.Errorf("link updates: %w", err)
		case u, ok := <-ch:
			if !ok {
				return fmt.Errorf("link updates: subscription closed")
			}
			a := u.Attrs()
			report(a.Name, u.Header.Type != unix.RTM_DELLINK && linkUp(a))
		}
	}
}
