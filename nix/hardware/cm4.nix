# Raspberry Pi Compute Module 4 (eMMC) in a Turing Pi 2 slot: kernel, boot loader, root fs.
# Used by the node configurations and by the bootstrap image (images/base.nix).
{ pkgs, ... }:
{
  boot = {
    kernelPackages = pkgs.linuxKernel.packages.linux_rpi4;
    initrd.availableKernelModules = [
      "xhci_pci"
      "usbhid"
      "usb_storage"
    ];
    loader = {
      grub.enable = false;
      generic-extlinux-compatible = {
        enable = true;
        # /boot lives on the eMMC root; keep the boot menu (and its kernels) bounded.
        configurationLimit = 10;
      };
    };
  };

  # The sd-aarch64 image format brings nixpkgs' generic aarch64 initrd module list, written for
  # mainline kernels (sun4i-drm and other non-Pi drivers). The Raspberry Pi kernel lacks some of
  # them, and building the initrd's modules closure then fails with "Module sun4i-drm not found"
  # (NixOS/nixpkgs#154163, nix-community/nixos-generators#266). The known remedy: let the
  # closure skip modules this kernel does not have.
  nixpkgs.overlays = [
    (_final: prev: {
      makeModulesClosure = args: prev.makeModulesClosure (args // { allowMissing = true; });
    })
  ];

  # The Raspberry Pi firmware blobs (Wi-Fi/Bluetooth, VideoCore).
  hardware.enableRedistributableFirmware = true;

  # The root partition the sd-aarch64 image creates (nixos-generators labels it NIXOS_SD).
  fileSystems."/" = {
    device = "/dev/disk/by-label/NIXOS_SD";
    fsType = "ext4";
    options = [ "noatime" ];
  };
}
