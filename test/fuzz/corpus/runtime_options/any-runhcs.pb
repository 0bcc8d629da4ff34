
containerd.runhcs.v1.Options0H€‚debug