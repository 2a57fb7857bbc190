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
  default_tags {
    tags = { job_id = "fixture" }
  }
}

resource "aws_instance" "v1" {
  ami           = "ami-123"
  instance_type = "t2.small"
}
