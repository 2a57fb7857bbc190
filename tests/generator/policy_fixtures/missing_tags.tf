terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.60"
    }
  }
}

provider "aws" {
  region = "ca-central-1"
}

resource "aws_vpc" "untagged" {
  cidr_block = "10.0.0.0/16"
  tags       = { Name = "no job id here" }
}
