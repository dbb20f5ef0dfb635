"""1. Network: VPC over 2+ AZs, subnets per tier, endpoints, least-open security groups.

Subnet tiers:
  public  - NAT gateways only (nothing else is internet-facing; CloudFront is the edge)
  tasks   - private with egress: Fargate tasks, VPC Lambdas, the internal ALB (which
            CloudFront reaches through a VPC origin for the stream gateway's paths)
  data    - isolated: Aurora and Redis, no route out at all

DynamoDB and S3 are reached through gateway endpoints (free, no NAT traffic).  With
``interface_endpoints`` (prod) the other AWS APIs the code calls go over PrivateLink too.

All security groups live here, so the rules between them are in one place and the
stacks that use them never reference each other in a cycle.
"""
from __future__ import annotations

from aws_cdk import CfnOutput, Stack, aws_ec2 as ec2, aws_logs as logs
from constructs import Construct

from gateway.config import PORT as GATEWAY_PORT
from infra.config import StageConfig
from infra.nag import acknowledge
from infra.stacks.common import retention
from matcher.service.config import HEALTH_PORT as MATCHER_HEALTH_PORT

DB_PORT = 5432
REDIS_PORT = 6379
HTTPS = ec2.Port.tcp(443)


class NetworkStack(Stack):
    def __init__(self, scope: Construct, cid: str, *, cfg: StageConfig, **kw) -> None:
        super().__init__(scope, cid, **kw)
        self.cfg = cfg

        self.vpc = ec2.Vpc(
            self, "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(cfg.vpc_cidr),
            **({"availability_zones": list(cfg.availability_zones)} if cfg.availability_zones
               else {"max_azs": cfg.max_azs}),
            nat_gateways=cfg.nat_gateways,
            restrict_default_security_group=True,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(name="tasks", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20),
                ec2.SubnetConfiguration(name="data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24),
            ],
            gateway_endpoints={
                "DynamoDb": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.DYNAMODB),
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
            },
        )
        flow_log_group = logs.LogGroup(self, "FlowLogs", retention=retention(cfg.log_retention_days))
        self.vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group),
                              traffic_type=ec2.FlowLogTrafficType.REJECT)

        self.task_subnets = ec2.SubnetSelection(subnet_group_name="tasks")
        self.data_subnets = ec2.SubnetSelection(subnet_group_name="data")

        sg = lambda name, desc, out=False: ec2.SecurityGroup(  # noqa: E731
            self, name, vpc=self.vpc, description=desc, allow_all_outbound=out)
        self.lambda_sg = sg("LambdaSg", "Chalice API Lambdas: out to Redis and AWS APIs only")
        self.matcher_sg = sg("MatcherSg", "Matcher tasks: in from the internal ALB; out to DB, Redis, AWS APIs")
        self.jobs_sg = sg("JobsSg", "Fargate Spot jobs: out to DB, Redis, AWS APIs")
        self.gateway_sg = sg("GatewaySg", "Stream gateway tasks: in from the internal ALB; out to Redis, AWS APIs")
        self.alb_sg = sg("AlbSg", "Internal ALB: matcher admin/health, stream gateway (CloudFront VPC origin)")
        self.db_sg = sg("DbSg", "Aurora: in from the matcher and jobs on the PostgreSQL port")
        self.redis_sg = sg("RedisSg", "Redis: in from Lambdas, matcher and jobs on the Redis port")
        self.endpoint_sg = sg("EndpointSg", "Interface VPC endpoints: HTTPS in from the workloads")

        vpc_cidr = ec2.Peer.ipv4(self.vpc.vpc_cidr_block)
        self.alb_sg.add_ingress_rule(vpc_cidr, ec2.Port.tcp(80),
                                     "admin/health and the CloudFront VPC origin, from inside the VPC only")
        self.alb_sg.add_egress_rule(self.matcher_sg, ec2.Port.tcp(MATCHER_HEALTH_PORT), "to matcher health port")
        self.matcher_sg.add_ingress_rule(self.alb_sg, ec2.Port.tcp(MATCHER_HEALTH_PORT), "ALB health/admin")
        self.alb_sg.add_egress_rule(self.gateway_sg, ec2.Port.tcp(GATEWAY_PORT), "to the stream gateway")
        self.gateway_sg.add_ingress_rule(self.alb_sg, ec2.Port.tcp(GATEWAY_PORT), "ALB: WebSockets, health check")
        for client in (self.lambda_sg, self.matcher_sg, self.jobs_sg, self.gateway_sg):
            client.add_egress_rule(ec2.Peer.any_ipv4(), HTTPS, "AWS APIs (via endpoints or NAT)")
            client.add_egress_rule(self.redis_sg, ec2.Port.tcp(REDIS_PORT), "Redis")
            self.redis_sg.add_ingress_rule(client, ec2.Port.tcp(REDIS_PORT), "Redis clients")
            self.endpoint_sg.add_ingress_rule(client, HTTPS, "AWS APIs over PrivateLink")
        for client in (self.matcher_sg, self.jobs_sg):
            client.add_egress_rule(self.db_sg, ec2.Port.tcp(DB_PORT), "PostgreSQL (settlement)")
            self.db_sg.add_ingress_rule(client, ec2.Port.tcp(DB_PORT), "settlement / jobs")

        if cfg.interface_endpoints:
            for name, service in (
                ("SecretsManager", ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER),
                ("RdsData", ec2.InterfaceVpcEndpointAwsService.RDS_DATA),
                ("EcrApi", ec2.InterfaceVpcEndpointAwsService.ECR),
                ("EcrDocker", ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER),
                ("Logs", ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS),
                ("Monitoring", ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING),
                ("XRay", ec2.InterfaceVpcEndpointAwsService.XRAY),
            ):
                self.vpc.add_interface_endpoint(name, service=service, subnets=self.task_subnets,
                                                security_groups=[self.endpoint_sg], open=False)

        CfnOutput(self, "VpcId", value=self.vpc.vpc_id)
        CfnOutput(self, "LambdaSubnetIds", description="subnet_ids of the Chalice stage",
                  value=",".join(s.subnet_id for s in self.vpc.select_subnets(subnet_group_name="tasks").subnets))
        CfnOutput(self, "LambdaSecurityGroupId", description="security_group_ids of the Chalice stage",
                  value=self.lambda_sg.security_group_id)
        CfnOutput(self, "JobsSecurityGroupId", description="one-off tasks (migrations) on the jobs task definition",
                  value=self.jobs_sg.security_group_id)
        CfnOutput(self, "Region", value=self.region)
        CfnOutput(self, "Account", value=self.account)

        acknowledge(self.endpoint_sg, "AwsSolutions-EC23",
                    "Ingress is only from the workload security groups (no CIDR); nag cannot resolve the "
                    "cross-group references at synth time.")
        acknowledge(self.alb_sg, "AwsSolutions-EC23",
                    "Ingress is the VPC's own CIDR (an intrinsic nag cannot resolve), port 80 of an internal ALB.")


